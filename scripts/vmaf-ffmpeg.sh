#!/usr/bin/env bash
# Fetches a static ffmpeg 4.1 built with libvmaf (and libx264) into bin/vmaf-ffmpeg/
# and prints its path. Debian's ffmpeg has no libvmaf; this build is for the
# benchmarks only (the product detects libvmaf in whatever ffmpeg it runs with).
# Idempotent: an existing binary that runs is reused.
# The VMAF model stays in ../shared/vmaf (outside the repository); see
# vmaf_model below.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/bin/vmaf-ffmpeg"
bin="$dir/ffmpeg"

# The filter list is read whole: grep -q would close the pipe early, and
# under pipefail ffmpeg's SIGPIPE would read as "no libvmaf".
has_vmaf() { local f; f=$("$1" -hide_banner -filters 2>/dev/null) && [[ $f == *libvmaf* ]]; }

if [[ -x "$bin" ]] && has_vmaf "$bin"; then
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null || { echo "vmaf-ffmpeg: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @ffmpeg-installer/linux-x64 >/dev/null && tar xzf ./*.tgz)
mkdir -p "$dir"
install -m 0755 "$tmp/package/ffmpeg" "$bin.part"
mv "$bin.part" "$bin"
if ! has_vmaf "$bin"; then
  echo "vmaf-ffmpeg: $bin has no libvmaf filter" >&2
  exit 1
fi
echo "$bin"
