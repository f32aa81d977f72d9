#!/usr/bin/env bash
# Installs every Debian package infusion needs to build, test and serve. Idempotent: packages that
# are already present are skipped, and `apt-get update` runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl debootstrap
  libtorch-dev libopenblas0-pthread libopenblas-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libstb-dev sentencepiece
  nlohmann-json3-dev googletest libgtest-dev libgmock-dev
  prometheus python3-grpcio python3-grpc-tools python3-numpy
  bible-kjv libgloo-dev python3-yaml python3-matplotlib
  python3-torch python3-sentencepiece libcpp-httplib-dev libssl-dev zlib1g-dev nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all ${#PACKAGES[@]} packages present"

# Debian ships npm apart from nodejs; NodeSource's nodejs (which replaces Debian's) brings its own.
if ! command -v npm >/dev/null; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
# The HTTP API's test client: the official `openai` package at the version package-lock.json pins.
(cd "$(dirname "$0")/../tests/http" && npm ci --no-audit --no-fund --loglevel=error)
echo "setup: tests/http node modules installed"
