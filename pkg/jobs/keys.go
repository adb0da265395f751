package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pertitle/pertitle/pkg/media"
)

// Ladder modes: what an EncodingRequested's ladder means.
const (
	// LadderFixed: encode the ladder the request carries (media.BuiltinLadder).
	LadderFixed = "fixed"
	// LadderStatic: encode the request's Apple HLS authoring specification
	// ladder (pertitle.AppleLadder), two-pass.
	LadderStatic = "static"
	// LadderPerTitle: the backend analyses the title and chooses the ladder;
	// the request's ladder is only the fallback for backends that cannot.
	LadderPerTitle = "pertitle"
	// LadderPerShot: as LadderPerTitle, then each rung's CRF is chosen per
	// shot (pkg/pershot), and the title is encoded chunk by chunk at those CRFs.
	LadderPerShot = "pershot"
)

// ValidLadderMode reports whether m is one of the ladder modes.
func ValidLadderMode(m string) bool {
	return m == LadderFixed || m == LadderStatic || m == LadderPerTitle || m == LadderPerShot
}

// Analysed reports whether the backend chooses the ladder of mode m itself
// (per-title, per-shot): the request's ladder is then only a fallback.
func Analysed(m string) bool { return m == LadderPerTitle || m == LadderPerShot }

// Manifest names of every job's outputs, under its OutputPrefix.
const (
	HLSManifest  = media.HLSMasterName
	DASHManifest = media.DASHManifestName
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ErrInvalidJobID is returned for job ids that cannot name a storage key.
var ErrInvalidJobID = errors.New("invalid job id")

// ValidJobID checks a job id (ours, or a Bitmovin encoding id) before it is
// used in a key.
func ValidJobID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrInvalidJobID, id)
	}
	return nil
}

// NewID names the job of an encoding request on a backend ("local",
// "bitmovin"): derived from the request's event id, so that a redelivered
// request names the same job, and the same outputs, rather than a new one.
func NewID(backend, requestEventID string) string {
	sum := sha256.Sum256([]byte(requestEventID))
	return backend + "-" + hex.EncodeToString(sum[:10])
}

// Backends, by the names they give jobs.
const (
	BackendLocal    = "local"
	BackendBitmovin = "bitmovin"
)

// IsLocal reports whether id names a job of the local backend (a webhook's
// encoding id is either that or a Bitmovin encoding id).
func IsLocal(id string) bool { return strings.HasPrefix(id, BackendLocal+"-") }

// SourceKey is where ingest keeps an asset's source.
func SourceKey(assetID, ext string) string { return SourcePrefix(assetID) + "source" + ext }

// SourcePrefix holds everything ingest keeps of an asset's source.
func SourcePrefix(assetID string) string { return "sources/" + assetID + "/" }

// AssetOutputPrefix holds the outputs of every job of an asset.
func AssetOutputPrefix(assetID string) string { return "outputs/" + assetID + "/" }

// OutputPrefix is where a job writes its manifests and segments.
func OutputPrefix(assetID, jobID string) string { return AssetOutputPrefix(assetID) + jobID }

// ResultKey is where a local job's result is recorded.
func ResultKey(jobID string) string { return "jobs/" + jobID + ".json" }

// CompletionKey is the marker the webhook-receiver creates once it published
// the outcome (webhook event type) of an encoding; the Bitmovin reconciler
// reads it to know which finished encodings were never reported.
func CompletionKey(encodingID, eventType string) string {
	return "completions/" + encodingID + "/" + eventType
}

// ChunkRoot holds every plan of a chunked job; it goes once the job's
// result is recorded.
func ChunkRoot(jobID string) string { return "jobs/" + jobID + "/chunked/" }

// ChunkPrefix is where a chunked job keeps its work under one plan: the plan,
// the pieces of the source, and each chunk's outputs and markers.
func ChunkPrefix(jobID, planID string) string { return ChunkRoot(jobID) + planID }

// PlanKey is where the plan under prefix is written, once.
func PlanKey(prefix string) string { return prefix + "/plan.json" }

// PieceKey is chunk k's stretch of the source.
func PieceKey(prefix string, k int) string { return fmt.Sprintf("%s/pieces/%05d.mkv", prefix, k) }

// ChunkDir holds chunk k's encoded rungs (media.ChunkFile) and its markers.
func ChunkDir(prefix string, k int) string { return fmt.Sprintf("%s/chunks/%05d", prefix, k) }

// The markers of a chunk are each created once.

// ChunkDoneKey marks chunk k done: its rungs are stored.
func ChunkDoneKey(prefix string, k int) string { return ChunkDir(prefix, k) + "/done.json" }

// ChunkFailedKey marks chunk k given up on, with the reason.
func ChunkFailedKey(prefix string, k int) string { return ChunkDir(prefix, k) + "/failed.json" }

// ChunkClaimKey is the claim of the worker encoding chunk k.
func ChunkClaimKey(prefix string, k int) string { return ChunkDir(prefix, k) + "/claim.json" }

// ChunkRungKey is rung i of chunk k.
func ChunkRungKey(prefix string, k, rung int) string {
	return ChunkDir(prefix, k) + "/" + media.ChunkFile(rung)
}
