package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/tests/stack"
)

const (
	replicaClips = 12
	// directClips of them go up through the resumable API, their parts
	// straight to S3 at presigned URLs; the others as one POST.
	directClips = 4
)

// TestEveryServiceAsReplicas runs two replicas of each of ingest,
// encoder-dispatch, webhook-receiver and catalog, with a round-robin proxy
// in front of each HTTP service, on PostgreSQL (catalog, shared state,
// upload sessions) and the local S3 server. Twelve clips go up at once, some
// through direct upload sessions; one replica of each service is killed
// with SIGKILL while they are on their way, and started again. Every asset
// becomes ready exactly once, each title is encoded once plus at most one
// retry for the killed worker, both catalogs answer alike, and nothing is
// left behind in S3 or in the sessions table.
func TestEveryServiceAsReplicas(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Postgres: true, StateDB: true, Replicas: 2, Env: map[string]string{
		"PERTITLE_STORAGE": "s3", "PERTITLE_LADDER_MODE": "fixed",
		// Twelve uploads of one user at once: past the default burst.
		"PERTITLE_INGEST_UPLOADS_BURST": "50", "PERTITLE_INGEST_UPLOADS_PER_HOUR": "600",
	}})
	clips := make([]string, replicaClips)
	for i := range clips {
		clips[i] = testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: float64(2 + i%3), FPS: 25, Audio: i%2 == 0})
	}
	token := s.Token("alice")

	// Every upload starts at once; the direct ones hold back their
	// completion until ingest's first replica is dead.
	ids := make([]string, replicaClips)
	errs := make([]error, replicaClips)
	var all, posted, partsSent sync.WaitGroup
	complete := make(chan struct{})
	for i, clip := range clips {
		title := fmt.Sprintf("replica clip %02d", i)
		all.Add(1)
		if i < directClips {
			partsSent.Add(1)
			go func() {
				defer all.Done()
				ids[i], errs[i] = uploadDirect(s, token, clip, title, partsSent.Done, complete)
			}()
			continue
		}
		posted.Add(1)
		go func() {
			defer all.Done()
			defer posted.Done()
			ids[i], errs[i] = uploadOnce(s, token, clip, title)
		}()
	}
	// No single POST is in flight when ingest-1 dies: one cut off after its
	// announcement could not be told from one that never arrived. The
	// sessions are in the shared database, so ingest-2 completes them.
	posted.Wait()
	partsSent.Wait()
	s.Kill9(stack.Replica("ingest", 1))
	close(complete)
	s.StartService(stack.Replica("ingest", 1))
	all.Wait()
	require.NoError(t, errors.Join(errs...))

	killed, inFlight := killBusyWorker(t, s, ids)
	s.StartService(killed)
	waitReady(t, s, ids, 1)
	s.Kill9(stack.Replica("webhook-receiver", 1))
	s.StartService(stack.Replica("webhook-receiver", 1))
	waitReady(t, s, ids, replicaClips/2)
	s.Kill9(stack.Replica("catalog", 1))
	s.StartService(stack.Replica("catalog", 1))

	for _, id := range ids {
		a := s.WaitStatus(id, 6*time.Minute, "ready", "failed")
		require.Equal(t, "ready", a.Status, "%s: %s", id, a.Error)
		assert.Equal(t, 1, a.ReadyTransitions, "%s: ready exactly once", id)
	}
	assertEncodedOnce(t, s, ids, inFlight)
	assertCatalogsAgree(t, s, ids)
	assertNothingLeft(t, s, ids)
	// Both replicas of each HTTP service took requests.
	for name, b := range s.Balancers {
		assert.Positive(t, b.Served(0), "%s-1 served", name)
		assert.Positive(t, b.Served(1), "%s-2 served", name)
	}
}

// waitReady waits until at least n of the assets are ready.
func waitReady(t *testing.T, s *stack.Stack, ids []string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		ready := 0
		for _, id := range ids {
			if a, _ := s.GetAsset(id); a != nil && a.Status == "ready" {
				ready++
			}
		}
		return ready >= n
	}, 5*time.Minute, 200*time.Millisecond, "%d assets ready", n)
}

// call sends a request through the stack's proxies with alice's token and
// decodes a JSON answer of status want into out.
func call(method, u, token string, body io.Reader, want int, out any) error {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %s", method, u, resp.StatusCode, want, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// uploadOnce POSTs a clip to ingest in one request and returns the asset id.
func uploadOnce(s *stack.Stack, token, clip, title string) (string, error) {
	f, err := os.Open(clip)
	if err != nil {
		return "", err
	}
	defer f.Close()
	req, err := http.NewRequest(http.MethodPost, s.URL("ingest", "/v1/assets?title="+url.QueryEscape(title)), f)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "video/mp4")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var a struct{ ID string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &a) != nil || a.ID == "" {
		return "", fmt.Errorf("upload %s: %d %s", title, resp.StatusCode, b)
	}
	return a.ID, nil
}

// uploadDirect opens a resumable upload session, PUTs each part to the
// presigned S3 URL ingest hands out, calls sent, and completes the session
// once complete is closed.
func uploadDirect(s *stack.Stack, token, clip, title string, sent func(), complete <-chan struct{}) (string, error) {
	once := sync.OnceFunc(sent)
	defer once()
	data, err := os.ReadFile(clip)
	if err != nil {
		return "", err
	}
	decl, _ := json.Marshal(map[string]any{"filename": filepath.Base(clip), "size": len(data), "content_type": "video/mp4", "title": title})
	var sess struct {
		ID         string
		PartSize   int64 `json:"part_size"`
		PartsTotal int   `json:"parts_total"`
		Direct     bool
	}
	if err := call(http.MethodPost, s.URL("ingest", "/v1/uploads"), token, bytes.NewReader(decl), http.StatusCreated, &sess); err != nil {
		return "", err
	}
	if !sess.Direct {
		return "", fmt.Errorf("session %s: parts do not go straight to storage", sess.ID)
	}
	for n := 1; n <= sess.PartsTotal; n++ {
		var part struct{ URL, Method string }
		if err := call(http.MethodGet, s.URL("ingest", fmt.Sprintf("/v1/uploads/%s/parts/%d/url", sess.ID, n)), token, nil, http.StatusOK, &part); err != nil {
			return "", err
		}
		if !strings.Contains(part.URL, "X-Amz-Signature=") || strings.HasPrefix(part.URL, s.URL("ingest", "/")) {
			// (To S3, or to the proxy recording ingest's S3 calls with RecordAWS.)
			return "", fmt.Errorf("part %d goes to %s, not to a presigned S3 URL", n, part.URL)
		}
		end := min(int64(n)*sess.PartSize, int64(len(data)))
		req, err := http.NewRequest(http.MethodPut, part.URL, bytes.NewReader(data[int64(n-1)*sess.PartSize:end]))
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req) // no token: the URL is the permission
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("PUT part %d: %d", n, resp.StatusCode)
		}
	}
	once()
	<-complete
	var a struct{ ID string }
	err = call(http.MethodPost, s.URL("ingest", "/v1/uploads/"+sess.ID+"/complete"), token, nil, http.StatusAccepted, &a)
	return a.ID, err
}

// logLine is a line of a service's JSON log.
type logLine struct {
	Msg     string `json:"msg"`
	Topic   string `json:"topic"`
	AssetID string `json:"asset_id"`
}

// logLines reads the JSON lines of a process's log (every run of it).
func logLines(s *stack.Stack, name string) []logLine {
	f, err := os.Open(filepath.Join(s.Dir, name+".log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// encodes counts, by asset, the encodes a worker started (its
// EncodingStarted, published just before the encoder runs) and those it
// finished and handed over.
func encodes(s *stack.Stack, worker string) (started, finished map[string]int) {
	started, finished = map[string]int{}, map[string]int{}
	for _, l := range logLines(s, worker) {
		switch {
		case l.Msg == "event published" && strings.HasSuffix(l.Topic, events.TopicEncodingStarted):
			started[l.AssetID]++
		case l.Msg == "encoding handed over":
			finished[l.AssetID]++
		}
	}
	return started, finished
}

// killBusyWorker waits until a worker is encoding one of the assets, kills
// it with SIGKILL and returns its name and how many encodes it had in hand.
func killBusyWorker(t *testing.T, s *stack.Stack, ids []string) (string, int) {
	t.Helper()
	var name string
	var busy int
	require.Eventually(t, func() bool {
		for i := 1; i <= 2; i++ {
			w := stack.Replica("encoder-dispatch", i)
			started, finished := encodes(s, w)
			busy = 0
			for _, id := range ids {
				busy += started[id] - finished[id]
			}
			if busy > 0 {
				name = w
				s.Kill9(w)
				return true
			}
		}
		return false
	}, 3*time.Minute, 20*time.Millisecond, "a worker starts an encode")
	return name, busy
}

// assertEncodedOnce: each title was encoded once, plus at most one retry
// for the worker killed in the middle, which had inFlight encodes in hand.
func assertEncodedOnce(t *testing.T, s *stack.Stack, ids []string, inFlight int) {
	t.Helper()
	runs := map[string]int{}
	for i := 1; i <= 2; i++ {
		started, _ := encodes(s, stack.Replica("encoder-dispatch", i))
		for id, n := range started {
			runs[id] += n
		}
	}
	total := 0
	for _, id := range ids {
		assert.GreaterOrEqual(t, runs[id], 1, "%s: encoded", id)
		assert.LessOrEqual(t, runs[id], 2, "%s: encoded once, and once more at most for the kill", id)
		total += runs[id]
	}
	assert.Len(t, runs, len(ids), "no other asset was encoded: %v", runs)
	assert.LessOrEqual(t, total, len(ids)+inFlight, "retries only for the %d encodes the killed worker had in hand", inFlight)
	t.Logf("encoder runs: %d for %d titles; the killed worker had %d in hand", total, len(ids), inFlight)
}

// assertCatalogsAgree: both catalog replicas list the same assets, answer
// the same for each, and report the same analytics of beacons sent to
// either through the proxy.
func assertCatalogsAgree(t *testing.T, s *stack.Stack, ids []string) {
	t.Helper()
	type view struct {
		ID, Title, Status, Error string
		ReadyTransitions         int `json:"ready_transitions"`
		Renditions               []json.RawMessage
	}
	replicas := []string{stack.Replica("catalog", 1), stack.Replica("catalog", 2)}
	read := func(catalog, path string, out any) {
		code, b := s.GetAs("alice", s.URL(catalog, path))
		require.Equal(t, http.StatusOK, code, "%s %s: %s", catalog, path, b)
		require.NoError(t, json.Unmarshal(b, out))
	}
	var lists [2]struct{ Assets []view }
	for i, c := range replicas {
		read(c, "/v1/assets", &lists[i])
	}
	require.Len(t, lists[0].Assets, len(ids), "one asset per upload")
	assert.Equal(t, lists[0], lists[1], "both replicas list the same assets")
	for _, id := range ids {
		var a [2]view
		for i, c := range replicas {
			read(c, "/v1/assets/"+id, &a[i])
		}
		assert.Equal(t, a[0], a[1], "%s: both replicas answer the same", id)
		assert.NotEmpty(t, a[0].Renditions, id)
	}

	// Beacons of two plays of each of two assets, each through the proxy.
	for _, id := range ids[:2] {
		var withToken struct {
			BeaconToken string `json:"beacon_token"`
		}
		read("catalog", "/v1/assets/"+id, &withToken)
		for play := range 2 {
			beacon := fmt.Sprintf(`[{"type":"play_start","asset_id":%q,"session_id":"s%d","viewer_id":"v%d","ts":%d}]`,
				id, play, play, time.Now().UnixMilli())
			resp, err := http.Post(s.URL("catalog", "/v1/analytics/events?token="+url.QueryEscape(withToken.BeaconToken)),
				"application/json", strings.NewReader(beacon))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
		}
	}
	for _, id := range ids[:3] {
		var reports [2]struct {
			Plays         int
			UniqueViewers int `json:"unique_viewers"`
		}
		for i, c := range replicas {
			read(c, "/v1/analytics/assets/"+id, &reports[i])
		}
		assert.Equal(t, reports[0], reports[1], "%s: both replicas report the same analytics", id)
		want := 2
		if id == ids[2] {
			want = 0
		}
		assert.Equal(t, want, reports[0].Plays, id)
		assert.Equal(t, want, reports[0].UniqueViewers, id)
	}
}

var (
	resultKey     = regexp.MustCompile(`^jobs/([^/]+)\.json$`)
	outputKey     = regexp.MustCompile(`^outputs/([^/]+)/([^/]+)/`)
	completionKey = regexp.MustCompile(`^completions/([^/]+)/`)
	sourceKey     = regexp.MustCompile(`^sources/([^/]+)/[^/]+$`)
)

// assertNothingLeft: the input bucket holds one source per asset and no
// multipart upload; the output bucket one job's result, outputs and
// completion markers per asset; the sessions table is empty and nothing is
// left staged on ingest's disks.
func assertNothingLeft(t *testing.T, s *stack.Stack, ids []string) {
	t.Helper()
	ctx := context.Background()
	store, err := storage.NewS3(ctx, storage.S3Config{Endpoint: s.S3Endpoint, InputBucket: "pertitle-input", OutputBucket: "pertitle-output"})
	require.NoError(t, err)
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	sources := map[string]int{}
	for _, key := range bucketKeys(t, store, "pertitle-input") {
		m := sourceKey.FindStringSubmatch(key)
		if assert.NotNil(t, m, "input bucket: %s is nobody's source", key) {
			assert.True(t, known[m[1]], "input bucket: %s is the source of no asset", key)
			sources[m[1]]++
		}
	}
	for _, id := range ids {
		assert.Equal(t, 1, sources[id], "%s: one source", id)
	}
	mp, err := store.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("pertitle-input")})
	require.NoError(t, err)
	assert.Empty(t, mp.Uploads, "no multipart upload is left open")

	finished := map[string]bool{} // jobs with a result
	var outputs, completions [][]string
	for _, key := range bucketKeys(t, store, "pertitle-output") {
		if m := outputKey.FindStringSubmatch(key); m != nil {
			outputs = append(outputs, m)
		} else if m := completionKey.FindStringSubmatch(key); m != nil {
			completions = append(completions, m)
		} else if m := resultKey.FindStringSubmatch(key); m != nil {
			finished[m[1]] = true
		} else {
			assert.Fail(t, "output bucket: a key of nothing", key)
		}
	}
	assert.Len(t, finished, len(ids), "one job result per asset")
	jobsOf := map[string]map[string]bool{} // asset -> jobs with outputs
	for _, m := range outputs {
		assert.True(t, known[m[1]], "%s: outputs of no asset", m[0])
		assert.True(t, finished[m[2]], "%s: outputs of no finished job", m[0])
		if jobsOf[m[1]] == nil {
			jobsOf[m[1]] = map[string]bool{}
		}
		jobsOf[m[1]][m[2]] = true
	}
	for _, id := range ids {
		assert.Len(t, jobsOf[id], 1, "%s: the outputs of one job", id)
	}
	for _, m := range completions {
		assert.True(t, finished[m[1]], "%s: completion of no finished job", m[0])
	}

	db, err := pgx.Connect(ctx, s.StateDB)
	require.NoError(t, err)
	defer db.Close(ctx)
	var open int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM ingest_upload_sessions`).Scan(&open))
	assert.Zero(t, open, "no upload session is left")
	for i := 1; i <= 2; i++ {
		dir := filepath.Join(s.Dir, "staging-"+stack.Replica("ingest", i))
		var staged []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				staged = append(staged, p)
			}
			return nil
		})
		assert.Empty(t, staged, "nothing left staged on ingest's disk")
	}
}

// bucketKeys lists every key of a bucket.
func bucketKeys(t *testing.T, store *storage.S3, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(store.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}
