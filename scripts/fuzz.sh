#!/usr/bin/env bash
# make fuzz: runs every Go fuzz target of the module (func FuzzX(f *testing.F) in
# a _test.go file) with the fuzzing engine, FUZZTIME each, then prints a table:
# target, time run, executions, new corpus entries, failures. `make test` runs
# only their seed corpora (f.Add and testdata/fuzz), as plain `go test` does.
#
#   FUZZTIME=10m      how long each target runs (default 10m; 30s, 1h, or 5000x)
#   FUZZ=regexp       only targets whose "package/FuzzName" matches (grep -E)
#   FUZZJOBS=1        targets run at once (default 1: one after another)
#   FUZZPARALLEL=N    fuzzing workers per target (default: cores / FUZZJOBS)
#   FUZZ_TMPDIR=dir   temp dir of the targets (default /dev/shm when present:
#                     the targets that write files run several times faster)
#
# Logs go to var/fuzz/<package>.<target>.log. A failing input is written by go test
# to testdata/fuzz/<target>/ beside the test: fix the bug, keep the file as a
# regression seed. New corpus entries stay in Go's cache ($(go env GOCACHE)/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
FUZZJOBS=${FUZZJOBS:-1}
cores=$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
FUZZPARALLEL=${FUZZPARALLEL:-$(( cores / FUZZJOBS > 0 ? cores / FUZZJOBS : 1 ))}
if [ -z "${FUZZ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then FUZZ_TMPDIR=/dev/shm; fi
logs=$PWD/var/fuzz
mkdir -p "$logs"
module=$(go list -m)

# Every package of the module with a fuzz target, and its targets.
targets=()
while read -r dir; do
  rel=${dir#"$PWD"/}
  for name in $(grep -ho -E '^func Fuzz[A-Za-z0-9_]*\([a-z]+ \*testing\.F\)' "$dir"/*_test.go 2>/dev/null |
                sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' | sort -u); do
    if [ -z "${FUZZ:-}" ] || grep -qE -- "$FUZZ" <<<"$rel/$name"; then targets+=("$rel $name"); fi
  done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | grep -v '^$')
if [ ${#targets[@]} -eq 0 ]; then echo "fuzz: no target matches '${FUZZ:-}'" >&2; exit 1; fi
echo ">> ${#targets[@]} fuzz targets of $module, $FUZZTIME each, $FUZZJOBS at a time with $FUZZPARALLEL workers"

# run_one fuzzes one target and writes "target|fuzzed|wall|execs|new|failures|note"
# to $4: fuzzed is the engine's own elapsed time, wall adds building the test.
run_one() { # rel name log result
  local rel=$1 name=$2 log=$3 result=$4 start rc=0 fuzzed execs new failed=0 note=""
  start=$(date +%s)
  TMPDIR=${FUZZ_TMPDIR:-${TMPDIR:-/tmp}} go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
    -parallel "$FUZZPARALLEL" -timeout 0 "./$rel" >"$log" 2>&1 || rc=$?
  # The last progress line: "fuzz: elapsed: 2m0s, execs: 123 (1/sec), new interesting: 4 (total: 9)".
  fuzzed=$(grep -o 'elapsed: [0-9hms.]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  new=$(grep -o 'new interesting: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  if [ "$rc" -ne 0 ]; then
    failed=1
    note=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1 || true)
    [ -z "$note" ] || note="$rel/$note"
    [ -n "$note" ] || note="exit $rc, see ${log#"$PWD"/}"
  fi
  echo "$rel/$name|${fuzzed:--}|$(( $(date +%s) - start ))s|${execs:-0}|${new:-0}|$failed|$note" >"$result"
}

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
i=0
for t in "${targets[@]}"; do
  read -r rel name <<<"$t"
  while [ "$(jobs -rp | wc -l)" -ge "$FUZZJOBS" ]; do wait -n || true; done
  echo "   $rel $name"
  run_one "$rel" "$name" "$logs/${rel//\//.}.$name.log" "$results/$(printf %04d $i)" &
  i=$((i + 1))
done
wait

fails=0
echo
printf '%-64s %9s %7s %12s %6s %8s\n' target fuzzed wall executions new failures
for r in "$results"/*; do
  IFS='|' read -r target fuzzed wall execs new failed note <"$r"
  printf '%-64s %9s %7s %12s %6s %8s  %s\n' "$target" "$fuzzed" "$wall" "$execs" "$new" "$failed" "$note"
  fails=$((fails + failed))
done
if [ "$fails" -gt 0 ]; then
  echo "fuzz: $fails target(s) failed; logs in ${logs#"$PWD"/}/" >&2
  exit 1
fi
