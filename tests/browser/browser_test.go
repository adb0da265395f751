// Package browser drives the web app in a real browser (Debian's chromium through
// chromedp) against the whole stack as processes plus the local OIDC issuer: sign
// in through the issuer's form, upload a clip, wait for it in the library, play it
// and find the play in the analytics.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/tests/stack"
)

// testUser signs in through the issuer's login form (a user of the stack's issuer).
const testUser = "alice"

// chromium finds the browser: PERTITLE_CHROMIUM, else Debian's chromium. Without
// it the test fails: scripts/deps.sh --test (make test) and .ci/run install it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("PERTITLE_CHROMIUM"), "chromium", "chromium-browser"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run scripts/deps.sh --test (apt-get install -y chromium), or set PERTITLE_CHROMIUM")
	return ""
}

// requireWebApp fails when the catalog would embed only the placeholder page:
// make test builds the app first (scripts/web.sh).
func requireWebApp(t *testing.T) {
	t.Helper()
	index := filepath.Join(testenv.RepoRoot(t), "services/catalog/internal/webapp/dist/app/index.html")
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("the web app is not built (%s missing): run ./scripts/web.sh or make build", index)
	}
}

// TestSignInUploadWatchAnalytics is the user journey, end to end.
func TestSignInUploadWatchAnalytics(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	browser := chromium(t)
	requireWebApp(t)
	start := time.Now()
	step := func(name string) { t.Logf("%6.1fs  %s", time.Since(start).Seconds(), name) }

	// The stack's own issuer registers the catalog's address as the web app's
	// redirect URI; ingest must allow the same origin (CORS) before it starts.
	catalogPort := testenv.FreePort(t)
	appURL := fmt.Sprintf("http://127.0.0.1:%d", catalogPort)
	// S3 storage, as deployed: the page sends each part straight to the bucket
	// through its presigned URL (the local S3 server answers CORS for any origin).
	s := stack.Start(t, stack.Options{
		Ports: map[string]int{"catalog": catalogPort},
		Env: map[string]string{
			"PERTITLE_STORAGE":           "s3",
			"PERTITLE_CORS_ORIGINS":      appURL,
			"PERTITLE_MEDIA_SIGNING_KEY": "browser-test-media-signing-key",
			// The static ladder beside the per-title one: the asset page compares them.
			"PERTITLE_WITH_STATIC": "true",
			"PERTITLE_LOG_LEVEL":   "info",
		},
	})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 4, FPS: 25, Audio: true, Name: "browser-clip.mp4"})
	step("stack (with its issuer) and clip ready")

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
	)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first run starts the browser; it must not carry the test's deadline.
	require.NoError(t, chromedp.Do(browserCtx), "start chromium")

	// Uncaught exceptions in the app fail the test; console errors are logged.
	var (
		mu       sync.Mutex
		jsErrors []string
		console  []string
	)
	require.NoError(t, chromedp.Listen(browserCtx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			jsErrors = append(jsErrors, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				console = append(console, string(e.Type)+": "+strings.Join(parts, " "))
			}
		}
	}))
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range console {
			t.Logf("console %s", c)
		}
	}()

	ctx, cancel := context.WithTimeout(browserCtx, 4*time.Minute)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, steps...), what)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "text of %s", sel)
		return strings.TrimSpace(v)
	}
	number := func(expr string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
		require.NoError(t, err, expr)
		return v
	}
	until := func(what, expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
		poll := chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout))
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			v, err := poll(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting %s for %s (%s): %w", timeout, what, expr, err)
			}
			return v, err
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		saveScreenshot(t, name, png)
	}

	// Sign in through the issuer's login form.
	do("sign-in",
		chromedp.Navigate(appURL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in")),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), testUser),
		chromedp.SendKeys(chromedp.CSS("#password"), stack.Password(testUser)),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user"]`)),
	)
	require.Equal(t, testUser, text(`[data-testid="user"]`))
	path, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	require.NoError(t, err)
	require.Equal(t, "/", path, "the callback's code and state are removed from the address")
	step("signed in")

	// A file that is not a video is refused with a clear reason, before any upload.
	notes := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notes, []byte("not a video"), 0o644))
	do("refused file",
		chromedp.Click(chromedp.CSS(`#nav a[href="/upload"]`)),
		chromedp.WaitReady(chromedp.CSS("#file-input")),
		chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{notes}),
		until("refusal", `!!document.querySelector('li.upload.failed')`, 5*time.Second),
	)
	require.Contains(t, text("li.upload.failed .info"), "is not a video")

	// Upload through the page's file input (a resumable upload session).
	do("upload",
		chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{clip}),
		until("upload finished", `!!document.querySelector('li.upload[data-phase="done"], li.upload[data-phase="failed"]')`, time.Minute),
	)
	require.Contains(t, text(`li.upload[data-file="browser-clip.mp4"] .info`), "uploaded")
	require.Positive(t, s.Metric("ingest", "pertitle_http_requests_total", `route="/v1/uploads/{id}/parts/{n}/url"`, `code="200"`),
		"the page asked ingest for part URLs")
	require.Zero(t, s.Metric("ingest", "pertitle_http_requests_total", `route="/v1/uploads/{id}/parts/{n}"`),
		"and sent no part through ingest")
	shot("upload-page.png")
	step("uploaded")

	// The library lists it and shows it becoming ready, without a reload.
	do("library",
		chromedp.Click(chromedp.CSS(`#nav a[href="/"]`)),
		chromedp.WaitVisible(chromedp.CSS(".asset-card")),
	)
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(".asset-card"), "data-id"))
	require.NoError(t, err)
	assetID := attr.Value
	require.NotEmpty(t, assetID)
	do("ready in the library", until("ready", `!!document.querySelector('.asset-card[data-status="ready"]')`, 3*time.Minute))
	step("ready in the library: " + assetID)

	// The asset page plays it: currentTime advances.
	do("asset page",
		chromedp.Click(chromedp.CSS(`.asset-card[data-id="`+assetID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#player")),
		chromedp.WaitVisible(chromedp.CSS("#ladder tbody tr")),
		until("levels", `document.querySelectorAll('#rendition option').length > 1`, 30*time.Second),
	)
	levels := number(`document.querySelectorAll('#rendition option').length - 1`)
	rows := number(`document.querySelectorAll('#ladder tbody tr').length`)
	require.Equal(t, rows, levels, "one picker entry per rendition of the ladder table, besides Auto")
	do("play", chromedp.Evaluate[chromedp.Void](`document.getElementById('player').play()`, chromedp.EvalAwaitPromise))
	do("playing", until("playing", `document.getElementById('player').currentTime > 0.5`, 30*time.Second))
	t1 := number(`document.getElementById('player').currentTime`)
	do("wait", chromedp.Sleep(1200*time.Millisecond))
	t2 := number(`document.getElementById('player').currentTime`)
	require.Greater(t, t2, t1, "currentTime advances while playing")
	step(fmt.Sprintf("playing: currentTime %.2f → %.2f", t1, t2))
	do("pause", chromedp.Evaluate[chromedp.Void](`document.getElementById('player').pause()`))

	// The engine's report and the static ladder: the rate-quality plot and both
	// players side by side with the savings.
	do("report and comparison",
		until("report", `(document.querySelector('[data-testid="report-svg"]')||{}).naturalWidth > 0`, 15*time.Second),
		until("comparison", `document.querySelectorAll('.compare video').length === 2`, 15*time.Second),
	)
	savings := text(`[data-testid="savings"]`)
	require.Regexp(t, `Storage\s*\d+ % (saved|more): `, savings, "the storage saving of report.json is stated")
	require.Contains(t, savings, "per viewing hour")
	shot("asset-page.png")

	// Analytics: the play and its startup time, for this asset and overall.
	do("analytics page",
		chromedp.Click(chromedp.CSS(`.facts a[href="/analytics/`+assetID+`"]`)),
		until("one play", `(document.querySelector('[data-testid="plays"]')||{}).textContent === "1"`, 30*time.Second),
	)
	startup := text(`[data-testid="startup"]`)
	require.Regexp(t, `^\d+(\.\d+)? (ms|s)$`, startup, "a startup time is shown")
	shot("analytics-page.png")
	step("analytics: 1 play, startup " + startup)

	do("analytics summary",
		chromedp.Click(chromedp.CSS(`#nav a[href="/analytics"]`)),
		until("summary", `(document.querySelector('[data-testid="assets"]')||{}).textContent === "1"`, 15*time.Second),
	)
	require.Equal(t, "1", text(`[data-testid="plays"]`))

	do("library poster frame",
		chromedp.Click(chromedp.CSS(`#nav a[href="/"]`)),
		until("poster", `!!document.querySelector('.asset-card img.loaded')`, 15*time.Second),
	)
	shot("library-page.png")

	// Signing out forgets the tokens: the app asks to sign in again.
	do("sign out",
		chromedp.Click(chromedp.CSS("#sign-out")),
		chromedp.WaitVisible(chromedp.CSS("#sign-in")),
	)
	tokens, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("pertitle.tokens") || ""`))
	require.NoError(t, err)
	require.Empty(t, tokens)
	mu.Lock()
	require.Empty(t, jsErrors, "uncaught exceptions in the app")
	mu.Unlock()
	step("done")
}

// saveScreenshot writes .artifacts/<name>; with PERTITLE_UPDATE_SCREENSHOTS=1 also
// docs/screenshots/<name>, the README's pictures.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	root := testenv.RepoRoot(t)
	dirs := []string{filepath.Join(root, ".artifacts")}
	if os.Getenv("PERTITLE_UPDATE_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join(root, "docs", "screenshots"))
	}
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, name), png, 0o644))
		t.Logf("screenshot: %s", filepath.Join(d, name))
	}
}
