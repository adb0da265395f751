#!/usr/bin/env bash
# make bench-ladder: static vs per-title (fast, exhaustive) on every clip of
# ../shared/media, every rendition scored with VMAF by a libvmaf-capable ffmpeg
# (fetched by scripts/vmaf-ffmpeg.sh). Prints markdown tables.
# PERTITLE_BENCH_CLIPS=substring[,substring] limits the clips;
# PERTITLE_BENCH_PRESET sets the final x264 preset (default slow);
# PERTITLE_BENCH_CALIBRATE=1 also runs the SSIM/PSNR-vs-VMAF calibration
# (docs/benchmarks.md). Every encode uses the system ffmpeg (the product's);
# the static ffmpeg 4.1 only scores VMAF.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d ../shared/media ]]; then
  echo "bench-ladder: ../shared/media is absent; nothing to measure" >&2
  exit 1
fi
PERTITLE_VMAF_FFMPEG=$(./scripts/vmaf-ffmpeg.sh)
export PERTITLE_VMAF_FFMPEG PERTITLE_BENCH_LADDER=1
tests='TestBenchLadder|TestVMAFPairsFramesByIndex'
if [[ "${PERTITLE_BENCH_CALIBRATE:-}" == 1 ]]; then tests+='|TestCalibrateMetrics'; fi
go test -count=1 -v -timeout 240m -run "$tests" ./tests/benchladder/ |
  grep -v -E '^(=== RUN|=== PAUSE|=== CONT|--- PASS|PASS|ok )' || exit 1
