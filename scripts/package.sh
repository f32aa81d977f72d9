#!/usr/bin/env bash
# Builds infusion's Debian package and tests it as installed (docs/deploy.md, "Debian package").
#
#   bash scripts/package.sh               build, package, then test the package
#   bash scripts/package.sh --build-only  build and package (the Dockerfile's build stage)
#
# The package: $BUILD_DIR/packages/infusion_VERSION_ARCH.deb (CPack, cmake/package.cmake). The
# build folder is configured with CMAKE_INSTALL_PREFIX=/usr (a system package: /usr/bin, /etc).
#
# The test, without root or a container engine:
#   1. the package's metadata: name, version (= project version), Depends (runtime packages,
#      no -dev), maintainer scripts and conffiles;
#   2. apt resolves the Depends on this machine (apt-get install --simulate);
#   3. the package is unpacked into a fresh, empty root (dpkg-deb -x) and ROOT/usr/bin/
#      infusion-server started from it with no --model, with the unit's flags file: it must find
#      ROOT/usr/share/infusion/models/shapes itself; `--version` of every binary in ROOT/usr/bin;
#   4. /health and /ready (curl, as the image's HEALTHCHECK) and `infusion health` (gRPC, the
#      installed CLI) pass, one text-to-image call (the installed CLI) writes a PNG and prints
#      its seed, and a second call with that seed writes the same PNG;
#   5. SIGTERM: the server drains and exits 0.
# The libraries come from this machine (the root holds the package's files only): that the
# Depends name every library the binaries link is checked by tests/deploy/deploy_binaries_test.py.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
BUILD_ONLY=0
case "${1:-}" in
  "") ;;
  --build-only) BUILD_ONLY=1 ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

step() { echo "== $*"; }
fail() { echo "package: FAILED: $*" >&2; exit 1; }

step "configure $BUILD_DIR (CMAKE_INSTALL_PREFIX=/usr)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
TARGETS="infusion-server infusion infusion-bench infusion-eval infusion-train infusion-tool"
step "build $TARGETS"
ninja -C "$BUILD_DIR" -j "$JOBS" $TARGETS >/dev/null
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
ARCH=$(dpkg --print-architecture)
DEB="$BUILD_DIR/packages/infusion_${VERSION}_${ARCH}.deb"
step "cpack -G DEB"
rm -f "$DEB"
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
[ -f "$DEB" ] || fail "cpack wrote no $DEB"
echo "$DEB: $(du -h "$DEB" | cut -f1)"
[ "$BUILD_ONLY" = 1 ] && exit 0

step "1. package metadata"
dpkg-deb -f "$DEB" Package Version Architecture Depends
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || fail "package version is not $VERSION"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
if grep -qE -- '-dev(,|$| )' <<<"$DEPENDS"; then fail "a -dev package in Depends: $DEPENDS"; fi
CONTROL=$(mktemp -d)
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$CONTROL" "$WORK"
}
trap cleanup EXIT
dpkg-deb -e "$DEB" "$CONTROL"
for f in postinst prerm postrm conffiles; do [ -f "$CONTROL/$f" ] || fail "no $f in the package"; done
echo "conffiles: $(tr '\n' ' ' <"$CONTROL/conffiles")"

step "2. apt resolves the Depends (apt-get install --simulate)"
apt-get install --simulate "./$DEB" >"$WORK/apt.log" 2>&1 \
  || { cat "$WORK/apt.log"; fail "apt cannot install $DEB here"; }
grep -E '^(Inst|Conf) infusion ' "$WORK/apt.log" | head -2

step "3. unpack into an empty root and start infusion-server with no --model"
ROOT="$WORK/root"
mkdir "$ROOT"
dpkg-deb -x "$DEB" "$ROOT"
echo "files: $(find "$ROOT" -type f | wc -l); models: $(ls "$ROOT/usr/share/infusion/models" | tr '\n' ' ')"
for f in usr/bin/infusion-server usr/lib/systemd/system/infusion-server.service \
         etc/infusion/infusion-server.flags etc/default/infusion-server \
         usr/share/infusion/models/shapes/model.safetensors \
         usr/share/infusion/models/emoji/LICENSE-noto-emoji-images \
         usr/share/doc/infusion/CHANGELOG.md; do
  [ -e "$ROOT/$f" ] || fail "not in the package: /$f"
done
for binary in "$ROOT"/usr/bin/*; do
  out=$("$binary" --version)
  echo "$out"
  [ "$out" = "$(basename "$binary") $VERSION" ] || fail "$binary --version: $out"
done
PORTS="$WORK/ports"
# The unit's flags file, then test ports (the later flag wins).
OMP_WAIT_POLICY=passive "$ROOT/usr/bin/infusion-server" \
  --flagfile="$ROOT/etc/infusion/infusion-server.flags" \
  --host=127.0.0.1 --port=0 --http_port=0 --metrics_port=0 --port_file="$PORTS" \
  --threads=2 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  grep -q '^http ' "$PORTS" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; fail "infusion-server exited"; }
  sleep 0.2
done
grep -q '^http ' "$PORTS" 2>/dev/null || fail "infusion-server did not listen"
GRPC=$(awk '$1 == "grpc" {print $2}' "$PORTS")
HTTP=$(awk '$1 == "http" {print $2}' "$PORTS")
# The flags file says --http_port=8080; the command line's --http_port=0 (any free port) came later.
[ "$HTTP" != 8080 ] || fail "a flag after --flagfile did not override the file's"
grep -o 'no --model: serving the default model .*' "$WORK/server.log" \
  || fail "the server did not report its default model"

step "4. health checks and text-to-image from the installed CLI"
for _ in $(seq 600); do
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP/ready" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; fail "infusion-server exited"; }
  sleep 0.2
done
echo "GET /health: $(curl -fsS "http://127.0.0.1:$HTTP/health")"
echo "GET /ready: $(curl -fsS "http://127.0.0.1:$HTTP/ready")"
CLI="$ROOT/usr/bin/infusion"
echo "infusion health: $(INFUSION_SERVER=127.0.0.1:$GRPC "$CLI" health infusion.v1.Infusion)"
export INFUSION_SERVER=127.0.0.1:$GRPC
"$CLI" --timeout=120s t2i "a red circle" -o "$WORK/first.png" 2>"$WORK/t2i.log" \
  || { cat "$WORK/t2i.log"; fail "text-to-image failed"; }
grep '^wrote' "$WORK/t2i.log"
SEED=$(sed -n 's/^wrote .* (seed \([0-9]*\))$/\1/p' "$WORK/t2i.log")
[ -n "$SEED" ] || fail "no seed printed"
"$CLI" --timeout=120s --seed="$SEED" t2i "a red circle" -o "$WORK/again.png" 2>"$WORK/t2i.log" \
  || { cat "$WORK/t2i.log"; fail "text-to-image with --seed failed"; }
grep '^wrote' "$WORK/t2i.log"
cmp "$WORK/first.png" "$WORK/again.png" || fail "the same seed drew a different image"
[ "$(head -c 4 "$WORK/first.png" | tail -c 3)" = PNG ] || fail "first.png is not a PNG"
echo "same seed, same PNG: $(stat -c %s "$WORK/first.png") bytes, sha256 $(sha256sum <"$WORK/first.png" | cut -c1-16)"

step "5. SIGTERM: drain and exit"
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
grep -o 'SIGTERM received' "$WORK/server.log" || true
[ "$status" = 0 ] || { tail -20 "$WORK/server.log"; fail "infusion-server exited $status"; }
echo "infusion-server exited 0"
echo "package: OK $DEB"
