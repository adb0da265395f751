#!/usr/bin/env bash
# Installs what a fresh machine lacks to run and test pertitle: ffmpeg/ffprobe,
# the VMAF scorer (bin/vmaf-ffmpeg/ffmpeg, used for quality scoring only, so the
# per-title engine steers by VMAF) and, for `make proto`, protoc. Go itself is a
# prerequisite.
set -euo pipefail
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/), 1.26 or newer" >&2; exit 1; }
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v npm >/dev/null || missing+=(npm)
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
# The scorer: the static ffmpeg 4.1 with libvmaf from npm (scripts/vmaf-ffmpeg.sh).
# Without it per-title falls back to SSIM, which is a worse guide: say so loudly.
if ! "$(dirname "$0")/vmaf-ffmpeg.sh" >/dev/null; then
  echo "!! WARNING: no VMAF scorer could be installed (bin/vmaf-ffmpeg/ffmpeg): per-title will steer by SSIM, not VMAF" >&2
fi
