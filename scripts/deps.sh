#!/usr/bin/env bash
# Installs what a fresh machine lacks to run and test pertitle: ffmpeg/ffprobe and,
# for `make proto`, protoc. Go itself is a prerequisite.
set -euo pipefail
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/), 1.26 or newer" >&2; exit 1; }
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
[ "${PERTITLE_NEED_PROTOC:-}" = "1" ] && ! command -v protoc >/dev/null && missing+=(protobuf-compiler)
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v brew >/dev/null; then
    brew install "${missing[@]/protobuf-compiler/protobuf}"
  else
    echo "please install: ${missing[*]}" >&2; exit 1
  fi
fi
