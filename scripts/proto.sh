#!/usr/bin/env bash
# Regenerates Go code from proto/. Uses buf when it is installed (buf.gen.yaml),
# otherwise protoc (Debian: protobuf-compiler) with the protoc-gen-go pinned in go.mod.
# With --check it fails when the committed code differs from a fresh generation.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
gen() {
  out=$1
  if command -v buf >/dev/null 2>&1; then
    (cd proto && PATH="$PWD/../bin:$PATH" buf generate --template buf.gen.yaml -o "$out")
  else
    command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
    (cd proto && protoc --plugin=protoc-gen-go=../bin/protoc-gen-go \
      --go_out="$out" --go_opt=module=github.com/pertitle/pertitle/pkg/events \
      $(find . -name '*.proto' | sort))
  fi
}
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  gen "$tmp"
  if ! diff -r -x doc.go "$tmp/eventsv1" pkg/events/eventsv1; then
    echo "generated code is stale: run 'make proto' and commit" >&2; exit 1
  fi
  echo "proto: generated code is up to date"
else
  gen "$PWD/pkg/events"
fi
