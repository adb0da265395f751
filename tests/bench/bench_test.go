// Package bench measures the whole stack. It runs only with PERTITLE_BENCH=1
// (`make bench`) and prints tables; the figures are medians of repeated runs on
// one machine, measured side by side in one run.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/tests/stack"
)

func enabled(t *testing.T) {
	if os.Getenv("PERTITLE_BENCH") != "1" {
		t.Skip("benchmark: run with PERTITLE_BENCH=1 (make bench)")
	}
}

func runs() int {
	if n, err := strconv.Atoi(os.Getenv("PERTITLE_BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return 5
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func quantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[int(q*float64(len(s)-1)+0.5)]
}

func table(title string, header []string, rows [][]string) {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len(c))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			fmt.Printf("| %-*s ", w[i], c)
		}
		fmt.Println("|")
	}
	fmt.Printf("\n### %s\n\n", title)
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

// TestBenchUploadToReady: a 6-second 720p clip through the whole stack, against
// the bare encode of the same ladder with the same settings, alternating runs.
func TestBenchUploadToReady(t *testing.T) {
	enabled(t)
	// The stack encodes the same fixed ladder as the bare run, so that the
	// difference is the workflow's cost, not a different ladder (per-title
	// analysis has its own benchmark, make bench-ladder).
	s := stack.Start(t, stack.Options{Env: map[string]string{"PERTITLE_LADDER_MODE": "fixed"}})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 1280, Height: 720, Seconds: 6, FPS: 30, Audio: true})
	src, err := media.Probe(context.Background(), "ffprobe", clip)
	require.NoError(t, err)
	ladder := media.BuiltinLadder(src)

	var stackSecs, bareSecs []float64
	for i := 0; i < runs(); i++ {
		// Bare: the same single ffmpeg process the local backend runs.
		out := filepath.Join(t.TempDir(), "bare")
		start := time.Now()
		_, err := media.Encode(context.Background(), media.EncodeRequest{FFmpeg: "ffmpeg", SourcePath: clip, Source: src,
			OutDir: out, Ladder: ladder, SegmentSeconds: 2, Preset: "veryfast"})
		require.NoError(t, err)
		bareSecs = append(bareSecs, time.Since(start).Seconds())

		start = time.Now()
		code, body := s.Upload(clip, "bench")
		require.Equal(t, http.StatusAccepted, code, body)
		id := body["id"].(string)
		for {
			a, code := s.GetAsset(id)
			if code == http.StatusOK && (a.Status == "ready" || a.Status == "failed") {
				require.Equal(t, "ready", a.Status, a.Error)
				break
			}
			require.Less(t, time.Since(start), 3*time.Minute)
			time.Sleep(20 * time.Millisecond)
		}
		stackSecs = append(stackSecs, time.Since(start).Seconds())
	}
	ms, mb := median(stackSecs), median(bareSecs)
	table(fmt.Sprintf("Upload → ready, 6 s 1280x720 30 fps clip with audio, %d rungs, %d runs (target ratio ≤ 3×)", len(ladder), runs()),
		[]string{"path", "median s", "min s", "max s"},
		[][]string{
			{"whole stack (POST → catalog ready)", f2(ms), f2(quantile(stackSecs, 0)), f2(quantile(stackSecs, 1))},
			{"bare ffmpeg encode of the same ladder", f2(mb), f2(quantile(bareSecs, 0)), f2(quantile(bareSecs, 1))},
			{"ratio", f2(ms/mb) + "×", "", ""},
		})
}

// TestBenchWebhookToReady: webhook accepted → catalog shows the asset ready, over
// the emulator; then the catalog under a steady 1,000 GET/s from another process.
func TestBenchWebhookToReadyAndCatalogLoad(t *testing.T) {
	enabled(t)
	s := stack.Start(t, stack.Options{Services: []string{"catalog", "webhook-receiver"}})
	st, err := storage.NewFS(filepath.Join(s.Dir, "storage"))
	require.NoError(t, err)
	ctx := context.Background()
	key := []byte(s.WebhookSecret)
	n := 200
	var lat []float64
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		job := fmt.Sprintf("bench-job-%d-%d", time.Now().UnixNano(), i)
		asset := fmt.Sprintf("bench-asset-%d-%d", time.Now().UnixNano(), i)
		require.NoError(t, jobs.Save(ctx, st, &jobs.Result{JobID: job, AssetID: asset, Owner: "bench",
			Backend: "local", Status: jobs.StatusFinished,
			HLSManifestKey: "outputs/" + asset + "/" + job + "/master.m3u8", DASHManifestKey: "outputs/" + asset + "/" + job + "/manifest.mpd",
			Renditions: []jobs.Rendition{{Width: 1280, Height: 720, Bitrate: 3e6, Codec: "h264", Bytes: 1e6},
				{Width: 640, Height: 360, Bitrate: 8e5, Codec: "h264", Bytes: 3e5}}}))
		body, _ := json.Marshal(webhook.Notification{EventID: job, CreatedAt: time.Now(), ResourceID: job,
			ResourceType: "ENCODING", EventType: webhook.EventEncodingFinished})
		req, _ := http.NewRequest(http.MethodPost, s.URL("webhook-receiver", "/webhooks/bitmovin"), bytes.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, webhook.Sign(key, body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		accepted := time.Now()
		for {
			a, code := s.GetAsset(asset)
			if code == http.StatusOK && a.Status == "ready" {
				break
			}
			require.Less(t, time.Since(accepted), 30*time.Second)
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(accepted).Seconds()*1000)
		ids = append(ids, asset)
	}
	table(fmt.Sprintf("Webhook accepted → catalog ready over goaws, %d webhooks one after another (target p99 ≤ 1000 ms)", n),
		[]string{"p50 ms", "p90 ms", "p99 ms", "max ms"},
		[][]string{{f1(quantile(lat, .5)), f1(quantile(lat, .9)), f1(quantile(lat, .99)), f1(quantile(lat, 1))}})

	// The catalog under load from a separate process.
	bin := filepath.Join(t.TempDir(), "loadgen")
	out, err := exec.Command("go", "build", "-o", bin, "./loadgen").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var urls []string
	for _, id := range ids {
		urls = append(urls, s.URL("catalog", "/v1/assets/"+id))
	}
	var rows [][]string
	for i := 0; i < 3; i++ {
		cmd := exec.Command(bin, "-rate", "1000", "-duration", "10s", "-urls", strings.Join(urls, ","))
		// Admin: the assets are owned by "bench"; every request verifies the token.
		cmd.Env = append(os.Environ(), "LOADGEN_TOKEN="+s.Token("admin"))
		out, err := cmd.Output()
		require.NoError(t, err, "%s", out)
		var raw map[string]float64
		require.NoError(t, json.Unmarshal(out, &raw))
		rows = append(rows, []string{strconv.Itoa(i + 1), f0(raw["sent"]), f0(raw["errors"]), f0(raw["achieved_rps"]),
			f2(raw["p50_ms"]), f2(raw["p90_ms"]), f2(raw["p99_ms"]), f2(raw["max_ms"])})
	}
	table("Catalog GET /v1/assets/{id}, 1,000 req/s for 10 s from a separate process on loopback (target p99 ≤ 20 ms)",
		[]string{"run", "sent", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"}, rows)
}

// TestBenchIngestLargeUpload: a 2 GB upload streamed over loopback by curl, with
// ingest's peak resident memory read from /proc.
func TestBenchIngestLargeUpload(t *testing.T) {
	enabled(t)
	gb := 2.0
	if v, err := strconv.ParseFloat(os.Getenv("PERTITLE_BENCH_UPLOAD_GB"), 64); err == nil && v > 0 {
		gb = v
	}
	s := stack.Start(t, stack.Options{Services: []string{"catalog", "ingest"}})
	// MPEG-TS concatenates: repeat a high-bitrate piece up to the size wanted.
	piece := filepath.Join(t.TempDir(), "piece.ts")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "40M", "-f", "mpegts", piece).CombinedOutput()
	require.NoError(t, err, "%s", out)
	st, err := os.Stat(piece)
	require.NoError(t, err)
	// The concat demuxer with stream copy keeps timestamps continuous, so the big
	// file is one valid stream (plain byte concatenation would restart them).
	list := filepath.Join(t.TempDir(), "list.txt")
	repeat := int(gb*(1<<30)/float64(st.Size())) + 1
	require.NoError(t, os.WriteFile(list, []byte(strings.Repeat("file '"+piece+"'\n", repeat)), 0o644))
	big := filepath.Join(t.TempDir(), "big.ts")
	out, err = exec.Command("ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", "-f", "mpegts", big).CombinedOutput()
	require.NoError(t, err, "%s", out)
	bst, err := os.Stat(big)
	require.NoError(t, err)
	size := bst.Size()
	defer os.Remove(big)

	var rows [][]string
	for i := 0; i < 3; i++ {
		start := time.Now()
		out, err := exec.Command("curl", "-sS", "-f", "-X", "POST", "-T", big, "-H", "Content-Type: video/mp2t",
			"-H", "Authorization: Bearer "+s.Token("alice"), s.URL("ingest", "/v1/assets?title=big")).CombinedOutput()
		require.NoError(t, err, "%s", out)
		secs := time.Since(start).Seconds()
		rss := peakRSS(t, s.PID("ingest"))
		rows = append(rows, []string{strconv.Itoa(i + 1), f2(float64(size) / 1e6), f2(secs), f0(float64(size) / 1e6 / secs), f1(rss)})
		var a map[string]any
		require.NoError(t, json.Unmarshal(out, &a))
		_ = os.RemoveAll(filepath.Join(s.Dir, "storage", "sources", a["id"].(string)))
	}
	table(fmt.Sprintf("Ingest of a %.1f GB upload over loopback (curl -T), validated and stored (targets ≥ 200 MB/s, ≤ 100 MB RSS)", gb),
		[]string{"run", "MB", "seconds", "MB/s", "ingest peak RSS MB (VmHWM since start)"}, rows)
}

func peakRSS(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func f0(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }
func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
func f2(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }
