#!/usr/bin/env bash
# Installs the goaws SNS/SQS emulator (pinned) as bin/goaws unless it is there.
set -euo pipefail
bin=${1:-$(cd "$(dirname "$0")/.." && pwd)/bin}
[ -x "$bin/goaws" ] && exit 0
mkdir -p "$bin"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo ">> installing goaws v0.5.4 (SNS/SQS emulator)"
GOBIN="$tmp" go install github.com/Admiral-Piett/goaws/app/cmd@v0.5.4
mv "$tmp/cmd" "$bin/goaws"
