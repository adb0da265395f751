#!/usr/bin/env bash
# make bench-pershot: per-shot encoding (issue 16) on titles built at run time
# from ../shared/media clips (a 65 s multi-scene title, a title of one long
# and five short shots, a single-scene title; all 960x540 at 25 fps, never
# stored): every shot on an exhaustive resolution × CRF grid, the per-shot
# optimum against the per-title hull of the same title, then per-title,
# per-shot and two-pass static ladders scored on the whole title. VMAF v0.6.1
# by the scorer scripts/vmaf-ffmpeg.sh installs. Prints markdown tables.
#   PERTITLE_BENCH_MEDIA                the clips (default ../shared/media)
#   PERTITLE_BENCH_TITLES=name[,name]   multiscene, longshort, single (default all)
#   PERTITLE_BENCH_PRESET               final and grid preset (default veryfast)
#   PERTITLE_BENCH_VMAF_EVERY / _PIXELS sample frames / window (default 2: pairs, 2 in 5; whole picture)
#   PERTITLE_BENCH_ANALYSIS_EVERY       the engine's own scoring sampling (default the engine's)
#   PERTITLE_BENCH_MODES=0              the exhaustive part only
#   PERTITLE_BENCH_CACHE                titles, grids, static ladders (default var/bench-cache)
set -euo pipefail
cd "$(dirname "$0")/.."
export PERTITLE_BENCH_MEDIA=${PERTITLE_BENCH_MEDIA:-$PWD/../shared/media}
if [[ ! -d $PERTITLE_BENCH_MEDIA ]]; then
  echo "bench-pershot: $PERTITLE_BENCH_MEDIA is absent; nothing to measure" >&2
  exit 1
fi
PERTITLE_VMAF_FFMPEG=$(./scripts/vmaf-ffmpeg.sh)
export PERTITLE_VMAF_FFMPEG PERTITLE_BENCH_PERSHOT=1
go test -count=1 -v -timeout 600m -run 'TestBenchPerShot' ./tests/benchpershot/ |
  grep -v -E '^(=== RUN|=== PAUSE|=== CONT|--- PASS|PASS|ok )' || exit 1
