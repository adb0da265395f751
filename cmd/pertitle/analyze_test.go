package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
)

func TestParseBitrate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"800k", 800_000, true}, {"5M", 5_000_000, true}, {"2.5M", 2_500_000, true},
		{"1200000", 1_200_000, true}, {"fast", 0, false}, {"-1k", 0, false},
	}
	for _, tc := range cases {
		got, err := parseBitrate(tc.in)
		if !tc.ok {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestAnalyzeCommand(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2, Source: "mandelbrot"})
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"table", []string{"analyze", clip, "--max-renditions", "2", "--vmaf-ffmpeg="}, []string{"hull:", "ladder (", "metric ssim", "crf"}},
		{"flags before the source", []string{"analyze", "--max-bitrate", "300k", clip}, []string{"ladder ("}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			require.NoError(t, run(context.Background(), tc.args, &stdout, &stderr), stderr.String())
			for _, w := range tc.want {
				assert.Contains(t, stdout.String(), w)
			}
			assert.Contains(t, stderr.String(), "analysis:", "progress on stderr")
		})
	}

	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"analyze", clip, "--json", "--max-bitrate", "400k", "--vmaf-ffmpeg="}, &stdout, &stderr), stderr.String())
	var got struct {
		Analysis struct{ Metric string }
		Ladder   struct {
			Rungs []struct {
				Bitrate int64
				Why     string
			}
		}
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
	assert.Equal(t, "ssim", got.Analysis.Metric)
	require.NotEmpty(t, got.Ladder.Rungs)
	for _, r := range got.Ladder.Rungs {
		assert.LessOrEqual(t, r.Bitrate, int64(400_000))
		assert.NotEmpty(t, r.Why)
	}

	err := run(context.Background(), []string{"analyze"}, &stdout, &stderr)
	assert.Error(t, err)
	err = run(context.Background(), []string{"analyze", clip, "--analysis", "slow"}, &stdout, &stderr)
	assert.ErrorContains(t, err, "fast or exhaustive")
}

func TestEncodeCommand(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2, Audio: true})
	cases := []struct {
		name string
		args []string
	}{
		{"pertitle", []string{"--measure-quality"}},
		{"static", []string{"--ladder", "static"}},
		{"pershot", []string{"--ladder", "pershot"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			var stdout, stderr bytes.Buffer
			args := append([]string{"encode", clip, "-o", out}, tc.args...)
			require.NoError(t, run(context.Background(), args, &stdout, &stderr), stderr.String())
			for _, f := range []string{"master.m3u8", "manifest.mpd", "report.json", "report.svg"} {
				_, err := os.Stat(filepath.Join(out, f))
				assert.NoError(t, err, f)
			}
			assert.Contains(t, stderr.String(), "encode: 100%")
			assert.Contains(t, stdout.String(), "renditions:")
			if tc.name == "pershot" {
				assert.Contains(t, stdout.String(), "CRF per rung:", "the shots are listed")
				b, err := os.ReadFile(filepath.Join(out, "report.json"))
				require.NoError(t, err)
				assert.Contains(t, string(b), `"mode": "pershot"`)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	require.Error(t, run(context.Background(), []string{"encode", clip, "-o", t.TempDir(), "--ladder", "pershots"}, &stdout, &stderr))
	assert.Error(t, run(context.Background(), []string{"encode", clip}, &stdout, &stderr), "-o is required")
}
