#!/usr/bin/env bash
# make test: what CI runs, on any machine: installs what is missing (scripts/deps.sh
# --test: ffmpeg, protoc, chromium), then static checks, go.mod tidiness,
# generated-code drift, the web app's unit tests, and every test of every module
# with the race detector (fuzz targets run their seed corpora). Tests generate
# their own short clips with ffmpeg and start their own goaws processes; nothing
# outside the repository is needed. A step whose tool is missing fails: none is
# skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
short=""
[ "${1:-}" = "-short" ] && short="-short"
./scripts/deps.sh --test
./scripts/goaws.sh "$PWD/bin"
export PERTITLE_GOAWS_BIN="$PWD/bin/goaws"
mac_chromium=/Applications/Chromium.app/Contents/MacOS/Chromium
if [ -z "${PERTITLE_CHROMIUM:-}" ] && [ -x "$mac_chromium" ]; then export PERTITLE_CHROMIUM=$mac_chromium; fi

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=("ffmpeg/ffprobe (apt-get install -y ffmpeg)")
command -v protoc >/dev/null || command -v buf >/dev/null || missing+=("protoc (apt-get install -y protobuf-compiler)")
if [ -z "$short" ] && ! command -v "${PERTITLE_CHROMIUM:-chromium}" >/dev/null && ! command -v chromium-browser >/dev/null; then
  missing+=("chromium for tests/browser (apt-get install -y chromium, or set PERTITLE_CHROMIUM)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'make test: missing after scripts/deps.sh --test:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi

echo ">> gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed on: $unformatted" >&2; exit 1; fi
echo ">> go vet"
./scripts/modules.sh go vet
echo ">> go mod tidy"
# Every module of the repository, in the workspace or not (deploy/docker/httpprobe).
for mod in $(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || echo go.mod); do
  if ! (cd "$(dirname "$mod")" && GOWORK=off go mod tidy -diff); then
    echo "$mod: go mod tidy would change go.mod/go.sum (diff above): run it and commit" >&2
    exit 1
  fi
done
echo ">> generated code"
./scripts/proto.sh --check
# The browser test (tests/browser) drives the web app that the catalog embeds:
# build it first (a no-op when up to date), and run its unit tests.
./scripts/web.sh
./scripts/web.sh --test
echo ">> go test"
./scripts/modules.sh go test -race -count=1 -timeout 20m $short
