#!/usr/bin/env bash
# Fetches the emoji data set of configs/train/emoji.json: the npm package emoji-datasource-google
# (images Apache-2.0 from Noto, emoji.json MIT), unpacked into .cache/emoji/package/ of the
# repository (ignored by git). The trainer reads package/emoji.json and
# package/img/google/64/*.png. Idempotent: does nothing when the package is already there.
#
#   scripts/fetch_emoji.sh [CACHE_DIR]     (default: .cache/emoji)
set -euo pipefail

readonly VERSION=16.0.0
readonly PACKAGE="emoji-datasource-google@${VERSION}"
cache="${1:-$(cd "$(dirname "$0")/.." && pwd)/.cache/emoji}"

if [[ -f "${cache}/package/emoji.json" && -d "${cache}/package/img/google/64" ]]; then
  echo "fetch_emoji: ${cache}/package already holds ${PACKAGE}"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch_emoji: npm not found (apt-get install npm)" >&2; exit 1; }
mkdir -p "${cache}"
tarball="$(cd "${cache}" && npm pack --silent "${PACKAGE}" | tail -n 1)"
rm -rf "${cache}/package"
tar -xzf "${cache}/${tarball}" -C "${cache}"
rm -f "${cache}/${tarball}"
count="$(find "${cache}/package/img/google/64" -name '*.png' | wc -l)"
echo "fetch_emoji: unpacked ${PACKAGE} into ${cache}/package (${count} images of 64x64)"
