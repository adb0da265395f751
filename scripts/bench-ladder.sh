#!/usr/bin/env bash
# make bench-ladder: per-title (fast) against the exhaustive hull (plain CRF,
# no VBV, same preset) and against the static ladder (one-pass and two-pass;
# two-pass is the baseline), on every clip of ../shared/media, a long
# multi-scene title made from them at run time, and the holdout clips in
# PERTITLE_BENCH_HOLDOUT (a directory; none by default). Every rendition is
# scored with VMAF v0.6.1 by the scorer scripts/vmaf-ffmpeg.sh installs.
# Prints markdown tables.
#   PERTITLE_BENCH_MEDIA                        the tuning clips (default ../shared/media)
#   PERTITLE_BENCH_CLIPS=substring[,substring]  limits the titles ("long": the long one)
#   PERTITLE_BENCH_PRESETS=veryfast,slow        final presets (quality at the first)
#   PERTITLE_BENCH_VMAF_EVERY / _PIXELS         sample frames / window (default: all, whole)
#   PERTITLE_BENCH_ANALYSIS_EVERY               the engine's own scoring sampling (QualityEvery; default the engine's)
#   PERTITLE_BENCH_CACHE                        hull and static cache (default var/bench-cache)
#   PERTITLE_BENCH_CALIBRATE=1                  also the SSIM/PSNR-vs-VMAF calibration
# Every encode uses the system ffmpeg (the product's); the static ffmpeg 4.1
# only scores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PERTITLE_BENCH_MEDIA=${PERTITLE_BENCH_MEDIA:-$PWD/../shared/media}
if [[ ! -d $PERTITLE_BENCH_MEDIA ]]; then
  echo "bench-ladder: $PERTITLE_BENCH_MEDIA is absent; nothing to measure" >&2
  exit 1
fi
PERTITLE_VMAF_FFMPEG=$(./scripts/vmaf-ffmpeg.sh)
export PERTITLE_VMAF_FFMPEG PERTITLE_BENCH_LADDER=1
tests='TestBenchLadder|TestVMAFPairsFramesByIndex'
if [[ "${PERTITLE_BENCH_CALIBRATE:-}" == 1 ]]; then tests+='|TestCalibrateMetrics'; fi
go test -count=1 -v -timeout 600m -run "$tests" ./tests/benchladder/ |
  grep -v -E '^(=== RUN|=== PAUSE|=== CONT|--- PASS|PASS|ok )' || exit 1
