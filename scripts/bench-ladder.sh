#!/usr/bin/env bash
# make bench-ladder: static vs per-title (fast, exhaustive) on every clip of
# ../shared/media, every rendition scored with VMAF by a libvmaf-capable ffmpeg
# (fetched by scripts/vmaf-ffmpeg.sh). Prints markdown tables.
# PERTITLE_BENCH_CLIPS=substring limits the clips.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d ../shared/media ]]; then
  echo "bench-ladder: ../shared/media is absent; nothing to measure" >&2
  exit 1
fi
PERTITLE_VMAF_FFMPEG=$(./scripts/vmaf-ffmpeg.sh)
export PERTITLE_VMAF_FFMPEG PERTITLE_BENCH_LADDER=1
go test -count=1 -v -timeout 180m -run 'TestBenchLadder|TestVMAFPairsFramesByIndex' ./tests/benchladder/ |
  grep -v -E '^(=== RUN|=== PAUSE|=== CONT|--- PASS|PASS|ok )' || exit 1
