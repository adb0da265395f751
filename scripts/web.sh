#!/usr/bin/env bash
# Builds the web app (web/) into services/catalog/internal/webapp/dist/app, which the
# catalog binary embeds. `npm ci` runs only when node_modules is older than the
# lockfile; the Vite build only when a source is newer than the last build.
# Without Node.js it installs it (apt/brew), as deps.sh does for ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/../web"
out=../services/catalog/internal/webapp/dist/app
if ! command -v npm >/dev/null; then
  echo ">> installing nodejs and npm (the web app's build)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
  elif command -v brew >/dev/null; then
    brew install node
  else
    echo "please install Node.js 20 or newer with npm" >&2; exit 1
  fi
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo ">> npm ci (web/)"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ "${1:-}" = "--test" ]; then
  echo ">> web unit tests (vitest)"
  npx vitest run
  exit 0
fi
if [ -f "$out/index.html" ] && [ -z "$(find src public index.html vite.config.ts tsconfig.json package-lock.json -newer "$out/index.html" -print -quit)" ]; then
  echo ">> web app up to date ($out)"
  exit 0
fi
echo ">> building the web app (web/ → ${out#../})"
npm run build --silent
