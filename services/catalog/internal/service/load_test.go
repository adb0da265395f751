package service

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoadGetAsset checks the latency target of GET /v1/assets/{id}: p99 ≤ 20 ms at
// 1,000 req/s. Opt-in (it takes seconds): PERTITLE_LOAD_TEST=1, ideally under
// GOMAXPROCS=2 to match the target machine.
func TestLoadGetAsset(t *testing.T) {
	if os.Getenv("PERTITLE_LOAD_TEST") == "" {
		t.Skip("set PERTITLE_LOAD_TEST=1 to run")
	}
	s, _ := component(t)
	for _, env := range journey(t, assetID) {
		require.NoError(t, s.Messages(nil).Project(context.Background(), env))
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	url := srv.URL + "/v1/assets/" + assetID
	token := testToken(t, "alice")

	const rate, duration = 1000, 5 * time.Second
	n := int(rate * duration.Seconds())
	lat := make([]time.Duration, n)
	var failures int
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
			lat[i] = time.Since(start)
			if err != nil || res.StatusCode != http.StatusOK {
				mu.Lock()
				failures++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	p50, p99, maxLat := lat[n/2], lat[n*99/100], lat[n-1]
	t.Logf("%d requests at %d/s: p50 %s, p99 %s, max %s, failures %d", n, rate, p50, p99, maxLat, failures)
	require.Zero(t, failures)
	require.LessOrEqual(t, p99, 20*time.Millisecond)
}
