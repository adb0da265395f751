#!/usr/bin/env bash
# make bench: benchmarks printed as tables. Whole-stack figures come from
# tests/bench (medians of repeated runs, side by side in one run); bus throughput
# from Go benchmarks. PERTITLE_BENCH_RUNS sets the repetitions (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/goaws.sh "$PWD/bin"
export PERTITLE_GOAWS_BIN="$PWD/bin/goaws" PERTITLE_BENCH=1
echo "## pertitle benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(go version | cut -d' ' -f3))"
go test -count=1 -v -timeout 60m -run 'TestBench' ./tests/bench/ | grep -v -E '^(=== RUN|=== PAUSE|=== CONT|--- PASS|PASS|ok )' || exit 1
echo
echo "### Events per second one consumer handles (go test -bench, pkg/bus)"
echo
go test -run '^$' -bench 'Throughput' -benchtime 3s -count 3 ./pkg/bus/ | grep -E '^(Benchmark|goos|cpu)' 
