#!/usr/bin/env bash
# make bench-chunked: chunked encoding through the whole stack, printed as tables
# (tests/benchchunked). It builds a 1080p title of PERTITLE_BENCH_SECONDS (default
# 600) from ../shared/media once, under var/bench-chunked/, and runs it unchunked,
# chunked on one worker, on two workers pinned one per core, and on two with one
# killed mid-chunk. Expect about an hour on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/goaws.sh "$PWD/bin"
export PERTITLE_GOAWS_BIN="$PWD/bin/goaws" PERTITLE_BENCH=1
command -v taskset >/dev/null || { echo "taskset is needed (util-linux)" >&2; exit 1; }
go test -count=1 -v -timeout 4h -run 'TestBench(Chunked|DecodeShare)' ./tests/benchchunked/ | grep -v -E '^(=== RUN|=== PAUSE|=== CONT|--- PASS|PASS|ok )'
