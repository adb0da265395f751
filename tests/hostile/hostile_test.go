package hostile

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/tests/stack"
)

// refusedWithin bounds how long a refusal may take: probing and a short
// decode, never an encode.
const refusedWithin = 20 * time.Second

// TestHostileInputs sends every file of the corpus through the three ways in:
// POST /v1/assets, the resumable upload API, and an object dropped into the
// input bucket with its S3 event. A refused file gets a clear 4xx (on the S3
// path: its object is deleted) within seconds, nothing of it is kept and no
// AssetUploaded is published; an accepted one becomes ready; the services stay
// healthy throughout.
func TestHostileInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole stack")
	}
	staging := t.TempDir()
	// One user sends every kind through two upload paths: well past the
	// per-user upload rate, which is not what this suite is about (the abuse
	// limits have their own tests in services/ingest).
	s := stack.Start(t, stack.Options{Env: map[string]string{"PERTITLE_STORAGE": "s3", "PERTITLE_INGEST_STAGING_DIR": staging,
		"PERTITLE_INGEST_UPLOADS_PER_HOUR": "100000", "PERTITLE_INGEST_UPLOADS_BURST": "1000", "PERTITLE_INGEST_USER_SESSIONS": "1000"}})
	ctx := context.Background()
	store, err := storage.NewS3(ctx, storage.S3Config{Endpoint: s.S3Endpoint, InputBucket: "pertitle-input", OutputBucket: "pertitle-output"})
	require.NoError(t, err)
	secret := testmedia.Clip(t, testmedia.Spec{Width: 64, Height: 64, Seconds: 2, Name: "private.mp4"})
	cases := Corpus(t, t.TempDir(), secret)
	var refused, accepted []Case
	for _, c := range cases {
		if c.Refused {
			refused = append(refused, c)
		} else {
			accepted = append(accepted, c)
		}
	}
	require.GreaterOrEqual(t, len(refused), 25, "at least 25 kinds of bad or dangerous file")
	u := &uploader{s: s, store: store, user: "alice"}

	t.Run("refused", func(t *testing.T) {
		for _, c := range refused {
			t.Run(c.Name, func(t *testing.T) {
				for _, way := range ways {
					start := time.Now()
					code, msg := way.send(u, t, c)
					assert.True(t, code >= 400 && code < 500, "%s: want a 4xx, got %d (%s)", way.name, code, msg)
					assert.Less(t, time.Since(start), refusedWithin, "%s: refused within seconds", way.name)
					if c.Reason != "" && way.explains {
						assert.Contains(t, msg, c.Reason, way.name)
					}
				}
			})
		}
	})
	// Nothing of the refused files is kept or announced.
	assert.Empty(t, u.assets(t), "no refused upload became an asset")
	assert.Equal(t, 0.0, s.Metric("ingest", "pertitle_events_published_total", `topic="asset-uploaded"`), "no AssetUploaded was published")
	assert.Empty(t, list(t, store, "uploads/"), "refused objects were deleted from the input bucket")
	assert.Empty(t, list(t, store, "sources/"), "no source was stored")
	assert.Empty(t, files(t, staging), "no staging file or upload session is left")
	healthy(t, s)

	t.Run("accepted", func(t *testing.T) {
		ids := map[string]Case{}
		for i, c := range accepted {
			way := ways[i%len(ways)]
			id := way.accept(u, t, c)
			require.NotEmpty(t, id, "%s through %s", c.Name, way.name)
			ids[id] = c
		}
		for id, c := range ids {
			a := s.WaitStatus(id, 5*time.Minute, "ready", "failed")
			if !assert.Equal(t, "ready", a.Status, "%s: %s", c.Name, a.Error) {
				continue
			}
			require.NotEmpty(t, a.Renditions, c.Name)
			top := a.Renditions[0]
			assert.Equal(t, c.Portrait, top.Height > top.Width, "%s: the ladder keeps the display orientation (%dx%d)", c.Name, top.Width, top.Height)
			assert.Equal(t, 1, a.ReadyTransitions, c.Name)
		}
	})
	healthy(t, s)
	t.Run("asset commands", func(t *testing.T) { hostileAssetCommands(t, u) })
	healthy(t, s)
}

// hostileAssetCommands: DELETE /v1/assets/{id} and POST /v1/assets/{id}/retry
// answer hostile ids, other users and wrong states with a 4xx problem and
// change nothing; a real deletion empties the asset's keys in both buckets.
func hostileAssetCommands(t *testing.T, u *uploader) {
	s := u.s
	assets := u.assets(t)
	require.NotEmpty(t, assets)
	victim := assets[0].ID
	for _, id := range []string{"..%2F..%2Fetc%2Fpasswd", "%2e%2e", ".hidden", strings.Repeat("a", 129), "a%00b",
		"%C3%A9t%C3%A9", "a%20b", "sources%2F" + victim, victim + "%2F..%2F" + assets[len(assets)-1].ID} {
		for _, method := range []string{http.MethodDelete, http.MethodPost} {
			path := "/v1/assets/" + id
			if method == http.MethodPost {
				path += "/retry"
			}
			code, body := s.Do(u.user, method, s.URL("catalog", path))
			assert.True(t, code >= 400 && code < 500, "%s %s: want a 4xx, got %d (%s)", method, path, code, body)
			if code != http.StatusNotFound && code != http.StatusMethodNotAllowed { // the mux's own answers are plain text
				var p problem.Details
				assert.NoError(t, json.Unmarshal(body, &p), "%s %s: %s", method, path, body)
				assert.NotEmpty(t, p.Type, "%s %s", method, path)
			}
		}
	}
	for _, tc := range []struct{ user, method, path string }{
		{"bob", http.MethodDelete, "/v1/assets/" + victim},
		{"bob", http.MethodPost, "/v1/assets/" + victim + "/retry"},
		{"", http.MethodDelete, "/v1/assets/" + victim},
		{u.user, http.MethodPost, "/v1/assets/" + victim + "/retry"}, // ready: nothing to retry
	} {
		code, body := s.Do(tc.user, tc.method, s.URL("catalog", tc.path))
		assert.Contains(t, []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict}, code, "%s %s as %q: %s", tc.method, tc.path, tc.user, body)
	}
	_, code := s.GetAssetAs(u.user, victim)
	require.Equal(t, http.StatusOK, code, "the refused commands changed nothing")
	require.NotEmpty(t, list(t, u.store, "sources/"+victim+"/"))
	require.NotEmpty(t, list(t, u.store, "outputs/"+victim+"/"))

	code, body := s.Do(u.user, http.MethodDelete, s.URL("catalog", "/v1/assets/"+victim))
	require.Equal(t, http.StatusNoContent, code, string(body))
	assert.Eventually(t, func() bool {
		return len(list(t, u.store, "sources/"+victim+"/")) == 0 && len(list(t, u.store, "outputs/"+victim+"/")) == 0
	}, 30*time.Second, 200*time.Millisecond, "the deleted asset's objects leave both buckets")
	assert.Len(t, u.assets(t), len(assets)-1, "only the deleted asset is gone")
}

// way is one way into pertitle.
type way struct {
	name string
	// explains: a refusal comes with its reason (S3 drops get no answer).
	explains bool
	// send offers a file that must be refused: the status and error message.
	send func(u *uploader, t *testing.T, c Case) (int, string)
	// accept uploads a file that must be accepted: its asset id.
	accept func(u *uploader, t *testing.T, c Case) string
}

var ways = []way{
	{"POST /v1/assets", true, (*uploader).post, (*uploader).postAccepted},
	{"resumable upload", true, (*uploader).resumable, (*uploader).resumableAccepted},
	{"S3 event", false, (*uploader).dropRefused, (*uploader).drop},
}

type uploader struct {
	s     *stack.Stack
	store *storage.S3
	user  string
	mu    sync.Mutex
	n     int
}

func (u *uploader) do(t *testing.T, method, target, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+u.s.Token(u.user))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func errorOf(m map[string]any) string {
	if e, ok := m["error"].(string); ok {
		return e
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// upload sends the file as the raw body of POST /v1/assets.
func (u *uploader) upload(t *testing.T, c Case) (int, map[string]any) {
	f, err := os.Open(c.Path)
	require.NoError(t, err)
	defer f.Close()
	q := url.Values{"title": {c.Name}, "filename": {filepath.Base(c.Path)}}
	return u.do(t, http.MethodPost, u.s.URL("ingest", "/v1/assets?"+q.Encode()), "application/octet-stream", f)
}

func (u *uploader) post(t *testing.T, c Case) (int, string) {
	code, body := u.upload(t, c)
	return code, errorOf(body)
}

func (u *uploader) postAccepted(t *testing.T, c Case) string {
	code, body := u.upload(t, c)
	require.Equal(t, http.StatusAccepted, code, "%s: %v", c.Name, body)
	return body["id"].(string)
}

// session runs the resumable upload API to its end: create, every part, complete.
func (u *uploader) session(t *testing.T, c Case) (int, map[string]any) {
	b, err := os.ReadFile(c.Path)
	require.NoError(t, err)
	meta, _ := json.Marshal(map[string]any{"filename": filepath.Base(c.Path), "size": len(b), "content_type": "video/mp4", "title": c.Name})
	code, sess := u.do(t, http.MethodPost, u.s.URL("ingest", "/v1/uploads"), "application/json", bytes.NewReader(meta))
	if code != http.StatusCreated {
		return code, sess
	}
	id := sess["id"].(string)
	partSize := int(sess["part_size"].(float64))
	for n, off := 1, 0; off < len(b); n, off = n+1, off+partSize {
		part := b[off:min(off+partSize, len(b))]
		code, body := u.part(t, id, n, sess["direct"] == true, part)
		if code != http.StatusOK {
			u.gone(t, id)
			return code, body
		}
	}
	code, body := u.do(t, http.MethodPost, u.s.URL("ingest", "/v1/uploads/"+id+"/complete"), "", nil)
	if code >= 400 {
		u.gone(t, id)
	}
	return code, body
}

// part sends part n through ingest, or, for a direct upload (S3 storage),
// straight to the presigned URL ingest hands out, without credentials.
func (u *uploader) part(t *testing.T, id string, n int, direct bool, part []byte) (int, map[string]any) {
	target := u.s.URL("ingest", fmt.Sprintf("/v1/uploads/%s/parts/%d", id, n))
	if !direct {
		return u.do(t, http.MethodPut, target, "application/octet-stream", bytes.NewReader(part))
	}
	code, loc := u.do(t, http.MethodGet, target+"/url", "", nil)
	if code != http.StatusOK {
		return code, loc
	}
	req, err := http.NewRequest(http.MethodPut, loc["url"].(string), bytes.NewReader(part))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// gone checks that a refused session was deleted.
func (u *uploader) gone(t *testing.T, id string) {
	code, _ := u.do(t, http.MethodGet, u.s.URL("ingest", "/v1/uploads/"+id), "", nil)
	assert.Equal(t, http.StatusNotFound, code, "a refused upload session is deleted")
}

func (u *uploader) resumable(t *testing.T, c Case) (int, string) {
	code, body := u.session(t, c)
	return code, errorOf(body)
}

func (u *uploader) resumableAccepted(t *testing.T, c Case) string {
	code, body := u.session(t, c)
	require.Equal(t, http.StatusAccepted, code, "%s: %v", c.Name, body)
	return body["id"].(string)
}

// put drops the file into the input bucket and sends its notification.
func (u *uploader) put(t *testing.T, c Case) string {
	u.mu.Lock()
	u.n++
	key := fmt.Sprintf("uploads/%s/%d-%s", u.owner(t), u.n, filepath.Base(c.Path))
	u.mu.Unlock()
	f, err := os.Open(c.Path)
	require.NoError(t, err)
	defer f.Close()
	st, _ := f.Stat()
	_, err = u.store.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("pertitle-input"), Key: aws.String(key),
		Body: f, ContentLength: aws.Int64(st.Size()), Metadata: map[string]string{"title": c.Name}})
	require.NoError(t, err)
	out, err := u.s.Command("pertitle", "s3-notify", key).CombinedOutput()
	require.NoError(t, err, "pertitle s3-notify: %s", out)
	return key
}

// owner is the user's subject, which S3 keys name.
func (u *uploader) owner(t *testing.T) string {
	parts := strings.Split(u.s.Token(u.user), ".")
	require.Len(t, parts, 3)
	var claims struct {
		Sub string `json:"sub"`
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &claims))
	return claims.Sub
}

// dropRefused expects the object to be deleted: S3 uploads get no answer, so
// deletion is the refusal (reported as 422, the HTTP paths' code).
func (u *uploader) dropRefused(t *testing.T, c Case) (int, string) {
	key := u.put(t, c)
	deadline := time.Now().Add(refusedWithin)
	for time.Now().Before(deadline) {
		_, err := u.store.Stat(context.Background(), key)
		if errors.Is(err, storage.ErrNotFound) {
			return http.StatusUnprocessableEntity, ""
		}
		time.Sleep(100 * time.Millisecond)
	}
	return http.StatusOK, "the refused object " + key + " is still in the bucket"
}

func (u *uploader) drop(t *testing.T, c Case) string {
	key := u.put(t, c)
	var id string
	require.Eventually(t, func() bool {
		for _, a := range u.assets(t) {
			if a.Title == c.Name {
				id = a.ID
				return true
			}
		}
		return false
	}, 2*time.Minute, 200*time.Millisecond, "%s dropped as %s becomes an asset", c.Name, key)
	return id
}

func (u *uploader) assets(t *testing.T) []stack.Asset {
	var list struct {
		Assets []stack.Asset `json:"assets"`
	}
	code, body := u.s.GetAs(u.user, u.s.URL("catalog", "/v1/assets"))
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &list))
	return list.Assets
}

func list(t *testing.T, store *storage.S3, prefix string) []string {
	objs, err := store.List(context.Background(), prefix)
	require.NoError(t, err)
	var keys []string
	for _, o := range objs {
		keys = append(keys, path.Clean(o.Key))
	}
	return keys
}

// files lists the regular files under dir.
func files(t *testing.T, dir string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// healthy checks that every service still answers its health and readiness.
func healthy(t *testing.T, s *stack.Stack) {
	t.Helper()
	for _, svc := range stack.AllServices {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(s.OpsURL(svc, p))
			if !assert.NoError(t, err, "%s%s", svc, p) {
				continue
			}
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s%s", svc, p)
		}
	}
}
