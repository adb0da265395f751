#!/usr/bin/env bash
# Runs a go command in every module of the workspace (./... stops at module
# boundaries, so a workspace with several modules needs the loop).
set -euo pipefail
cd "$(dirname "$0")/.."
mods=$(go work edit -json | python3 -c 'import json,sys; print("\n".join(u["DiskPath"] for u in json.load(sys.stdin)["Use"]))' 2>/dev/null || echo .)
for m in $mods; do
  (cd "$m" && echo ">> $m: $*" && "$@" ./...)
done
