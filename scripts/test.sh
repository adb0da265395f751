#!/usr/bin/env bash
# make test: static checks, generated-code drift, then every test of every module
# with the race detector. Tests generate their own short clips with ffmpeg and start
# their own goaws processes; nothing outside the repository is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
short=""
[ "${1:-}" = "-short" ] && short="-short"
./scripts/goaws.sh "$PWD/bin"
export PERTITLE_GOAWS_BIN="$PWD/bin/goaws"

echo ">> gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed on: $unformatted" >&2; exit 1; fi
echo ">> go vet"
./scripts/modules.sh go vet
if command -v protoc >/dev/null || command -v buf >/dev/null; then
  echo ">> generated code"
  ./scripts/proto.sh --check
else
  echo ">> generated code: skipped (no protoc; apt-get install -y protobuf-compiler)"
fi
# The browser test (tests/browser) drives the web app that the catalog embeds:
# build it first (a no-op when up to date), and run its unit tests.
./scripts/web.sh
./scripts/web.sh --test
echo ">> go test"
./scripts/modules.sh go test -race -count=1 -timeout 20m $short
