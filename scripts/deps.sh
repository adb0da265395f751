#!/usr/bin/env bash
# Installs what a fresh machine lacks to run and test pertitle: ffmpeg/ffprobe,
# the VMAF scorer (bin/vmaf-ffmpeg/ffmpeg, used for quality scoring only, so the
# per-title engine steers by VMAF), and with --test also what `make test` runs
# exactly as CI (.ci/run) does: protoc (protobuf-compiler, the generated-code
# check), chromium (the browser test in tests/browser) and, when none answers on
# 127.0.0.1:5432, a PostgreSQL server for the tests, and helm (deploy/helm). Go itself is a
# prerequisite; Node.js comes with scripts/web.sh.
set -euo pipefail
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/), 1.26 or newer" >&2; exit 1; }
testing=""
[ "${1:-}" = "--test" ] && testing=1

# Homebrew's chromium is an app bundle, not a command.
mac_chromium=/Applications/Chromium.app/Contents/MacOS/Chromium
if [ -z "${PERTITLE_CHROMIUM:-}" ] && [ -x "$mac_chromium" ]; then PERTITLE_CHROMIUM=$mac_chromium; fi

# chromium_path prints the browser tests/browser drives, if there is one.
chromium_path() {
  local c
  for c in "${PERTITLE_CHROMIUM:-}" chromium chromium-browser; do
    [ -n "$c" ] && command -v "$c" 2>/dev/null && return 0
  done
  return 1
}

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v npm >/dev/null || missing+=(npm)
if [ -n "$testing" ]; then
  command -v protoc >/dev/null || command -v buf >/dev/null || missing+=(protobuf-compiler)
  chromium_path >/dev/null || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v brew >/dev/null; then
    for p in "${missing[@]}"; do
      case $p in
        protobuf-compiler) brew install protobuf ;;
        chromium) brew install --cask chromium ;;
        *) brew install "$p" ;;
      esac
    done
  else
    echo "please install: ${missing[*]}" >&2; exit 1
  fi
fi
# The scorer: the static ffmpeg 4.1 with libvmaf from npm (scripts/vmaf-ffmpeg.sh).
# Without it per-title falls back to SSIM, which is a worse guide: say so loudly.
if ! "$(dirname "$0")/vmaf-ffmpeg.sh" >/dev/null; then
  echo "!! WARNING: no VMAF scorer could be installed (bin/vmaf-ffmpeg/ffmpeg): per-title will steer by SSIM, not VMAF" >&2
fi

# PostgreSQL for the tests (internal/testenv.Postgres: a fresh database per test on
# PERTITLE_TEST_POSTGRES_URL, else postgres@127.0.0.1:5432 without a password).
# When nothing answers there, install Debian's server and start it with trust
# authentication on the loopback interface: a test machine's, never a production
# set-up.
if [ -n "$testing" ] && [ -z "${PERTITLE_TEST_POSTGRES_URL:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if ! command -v apt-get >/dev/null; then
    echo "make test needs PostgreSQL: start one on 127.0.0.1:5432 (user postgres, no password) or set PERTITLE_TEST_POSTGRES_URL" >&2
    exit 1
  fi
  echo ">> installing and starting PostgreSQL for the tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  command -v pg_ctlcluster >/dev/null || {
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  }
  version=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  $SUDO pg_ctlcluster "$version" main start 2>/dev/null || $SUDO pg_ctlcluster "$version" main reload
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 1; done
  (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

# helm for deploy/helm's tests (lint and render the chart), built from its Go
# module at a pinned version into bin/, once.
HELM_VERSION=v4.3.2
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$testing" ] && ! { [ -x "$root/bin/helm" ] && go version -m "$root/bin/helm" 2>/dev/null | grep -Eq "^\s+mod\s+helm.sh/helm/v4\s+$HELM_VERSION\b"; }; then
  echo ">> building helm $HELM_VERSION into bin/"
  GOBIN="$root/bin" GOWORK=off go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
