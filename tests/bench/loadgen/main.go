// Command loadgen sends GET requests at a constant rate (open loop: a slow answer
// does not slow the sender down, so queueing shows up in the latencies) for a
// bounded time, and prints the latency distribution as JSON. Targets must be on
// this machine.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type result struct {
	Rate       int     `json:"rate"`
	Seconds    float64 `json:"seconds"`
	Sent       int     `json:"sent"`
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	AchievedRS float64 `json:"achieved_rps"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
}

func main() {
	rate := flag.Int("rate", 1000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send (at most 2m)")
	urls := flag.String("urls", "", "comma-separated URLs, used round-robin")
	flag.Parse()
	// The bearer token comes from the environment, not argv, which ps shows.
	if err := run(*rate, *dur, strings.Split(*urls, ","), os.Getenv("LOADGEN_TOKEN")); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(rate int, dur time.Duration, targets []string, token string) error {
	if dur > 2*time.Minute {
		dur = 2 * time.Minute
	}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" {
			return fmt.Errorf("bad url %q", t)
		}
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("refusing non-loopback target %s", t)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), dur+10*time.Second)
	defer cancel()

	n := int(float64(rate) * dur.Seconds())
	lat := make([]time.Duration, n)
	okc := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, targets[i%len(targets)], nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				okc[i] = resp.StatusCode == http.StatusOK
			}
			// Latency counts from when the request was due, not when it was sent.
			lat[i] = time.Since(due)
		}(i, due)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := result{Rate: rate, Seconds: elapsed.Seconds(), Sent: n}
	var good []time.Duration
	for i := range lat {
		if okc[i] {
			res.OK++
			good = append(good, lat[i])
		} else {
			res.Errors++
		}
	}
	sort.Slice(good, func(i, j int) bool { return good[i] < good[j] })
	q := func(p float64) float64 {
		if len(good) == 0 {
			return 0
		}
		return float64(good[int(p*float64(len(good)-1))].Microseconds()) / 1000
	}
	res.AchievedRS = float64(n) / dur.Seconds()
	res.P50ms, res.P90ms, res.P99ms, res.Maxms = q(0.5), q(0.9), q(0.99), q(1)
	return json.NewEncoder(os.Stdout).Encode(res)
}
