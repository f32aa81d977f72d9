#!/usr/bin/env bash
# Builds infusion's Debian package and tests it as installed (docs/deploy.md, "Testing the
# package").
#
#   bash scripts/package.sh                build, package, test the package unpacked into an
#                                          empty root (no root rights, no network needed)
#   bash scripts/package.sh --chroot DIR   build, package, test `apt-get install ./infusion.deb`
#                                          in a throwaway copy of DIR, a clean Debian root made by
#                                          `debootstrap --variant=minbase bookworm DIR` (needs root
#                                          and the Debian mirror; DIR itself is never changed)
#   bash scripts/package.sh --build-only   build and package (the Dockerfile's build stage)
#
# The package: $BUILD_DIR/packages/infusion_VERSION_ARCH.deb (CPack, cmake/package.cmake). The
# build folder is configured with CMAKE_INSTALL_PREFIX=/usr (a system package: /usr/bin, /etc).
#
# The test:
#   1. the package's metadata: version (= the project's), Depends (no -dev), maintainer scripts,
#      conffiles;
#   2. the install: with --chroot, apt installs the package and its Depends into the clean root
#      (an overlay over DIR, in a private mount namespace) and its postinst creates the user
#      `infusion`, which then runs the server; without, `apt-get install --simulate` resolves the
#      Depends on this machine and the package's files are unpacked into an empty root
#      (dpkg-deb -x), the libraries then coming from this machine;
#   3. systemd-analyze verify on the unit; `--version` of every installed binary; the installed
#      infusion-server started with the unit's flags file and no --model: it must find
#      /usr/share/infusion/models/shapes beside itself;
#   4. /health and /ready (curl, as the image's HEALTHCHECK) and `infusion health` (gRPC) pass;
#      one text-to-image call with the installed CLI writes a PNG and prints its seed, and a
#      second call with that seed writes the same PNG;
#   5. SIGTERM: the server drains and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
MODE=unpack
CHROOT_BASE=
case "${1:-}" in
  "") ;;
  --build-only) MODE=build-only ;;
  --chroot)
    MODE=chroot
    CHROOT_BASE=$(realpath "${2:?--chroot DIR}")
    [ -x "$CHROOT_BASE/usr/bin/apt-get" ] || { echo "$CHROOT_BASE: not a Debian root" >&2; exit 2; }
    ;;
  *) echo "usage: $0 [--build-only | --chroot DIR]" >&2; exit 2 ;;
esac
# The chroot's mounts (overlay, /proc, /dev) live in a mount namespace of this script's own, so
# that they vanish with it however it ends.
if [ "$MODE" = chroot ] && [ -z "${INFUSION_PACKAGE_NS:-}" ]; then
  exec env INFUSION_PACKAGE_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi

step() { echo "== $*"; }
fail() { echo "package: FAILED: $*" >&2; exit 1; }

step "configure $BUILD_DIR (CMAKE_INSTALL_PREFIX=/usr)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
TARGETS="infusion-server infusion infusion-bench infusion-eval infusion-train infusion-tool"
step "build $TARGETS"
ninja -C "$BUILD_DIR" -j "$JOBS" $TARGETS >/dev/null
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
ARCH=$(dpkg --print-architecture)
DEB="$PWD/$BUILD_DIR/packages/infusion_${VERSION}_${ARCH}.deb"
step "cpack -G DEB"
rm -f "$DEB"
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
[ -f "$DEB" ] || fail "cpack wrote no $DEB"
echo "$BUILD_DIR/packages/$(basename "$DEB"): $(du -h "$DEB" | cut -f1)"
[ "$MODE" = build-only ] && exit 0

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ "$MODE" = chroot ]; then
    umount -R "$WORK/merged" 2>/dev/null || true
    # Never remove files through a mount that is still there (the bind of /dev above all).
    if grep -q " $WORK/" /proc/self/mountinfo; then
      echo "package: $WORK still has mounts; not removed" >&2
      return
    fi
  fi
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

step "1. package metadata"
dpkg-deb -f "$DEB" Package Version Architecture Depends
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || fail "package version is not $VERSION"
if grep -qE -- '-dev(,|$| )' <<<"$(dpkg-deb -f "$DEB" Depends)"; then fail "a -dev package in Depends"; fi
dpkg-deb -e "$DEB" "$WORK/control"
for f in postinst prerm postrm conffiles; do [ -f "$WORK/control/$f" ] || fail "no $f in the package"; done
echo "conffiles: $(tr '\n' ' ' <"$WORK/control/conffiles")"

# ROOT: the installed tree as this script sees it. RUN: how to run a command in it (as the
# service user where there is one). IN: a scratch folder, as the commands in RUN see it; HOST:
# the same folder from here.
if [ "$MODE" = chroot ]; then
  step "2. apt-get install ./$(basename "$DEB") in a clean root (overlay over $CHROOT_BASE)"
  ROOT="$WORK/merged"
  mkdir -p "$WORK/upper" "$WORK/overlay-work" "$ROOT"
  mount -t overlay overlay \
    -o "lowerdir=$CHROOT_BASE,upperdir=$WORK/upper,workdir=$WORK/overlay-work" "$ROOT"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  cp "$DEB" "$ROOT/tmp/"
  in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
  in_root dpkg-query -W -f='${Package}\n' | grep -x 'libtorch1.13' && fail "the root is not clean"
  echo "the root before: $(in_root dpkg-query -W -f='${Package}\n' | wc -l) packages, no libtorch1.13"
  in_root apt-get update -qq
  start=$(date +%s)
  in_root apt-get install -y --no-install-recommends "/tmp/$(basename "$DEB")" >"$WORK/apt.log" 2>&1 \
    || { tail -30 "$WORK/apt.log"; fail "apt-get install failed"; }
  echo "apt-get install: $(grep -c '^Setting up' "$WORK/apt.log") packages set up" \
       "in $(($(date +%s) - start)) s; $(grep '^Setting up infusion ' "$WORK/apt.log")"
  echo "the root after: $(in_root dpkg-query -W -f='${Package}\n' | wc -l) packages"
  in_root dpkg -s infusion | grep -E '^(Status|Version):'
  echo "postinst's user: $(in_root getent passwd infusion)"
  mkdir -m 1777 "$ROOT/tmp/package-test"
  IN=/tmp/package-test
  HOST="$ROOT$IN"
  RUN=(chroot --userspec=infusion:infusion "$ROOT" env -i PATH=/usr/bin:/bin HOME=/nonexistent)
  INSTALLED=/usr
else
  step "2. apt resolves the Depends here (apt-get install --simulate); unpack into an empty root"
  apt-get install --simulate "$DEB" >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log"; fail "apt cannot install $DEB here"; }
  grep -E '^(Inst|Conf) infusion ' "$WORK/apt.log" | head -2
  ROOT="$WORK/root"
  mkdir "$ROOT"
  dpkg-deb -x "$DEB" "$ROOT"
  IN="$WORK/scratch"
  HOST="$IN"
  mkdir "$IN"
  RUN=(env)
  INSTALLED="$ROOT/usr"
fi
echo "files: $(dpkg-deb -c "$DEB" | grep -vc '/$'); models: $(ls "$ROOT/usr/share/infusion/models" | tr '\n' ' ')"
for f in usr/bin/infusion-server usr/lib/systemd/system/infusion-server.service \
         etc/infusion/infusion-server.flags etc/default/infusion-server \
         usr/share/infusion/models/shapes/model.safetensors \
         usr/share/infusion/models/emoji/LICENSE-noto-emoji-images \
         usr/share/doc/infusion/CHANGELOG.md; do
  [ -e "$ROOT/$f" ] || fail "not installed: /$f"
done

step "3. the unit, --version, and infusion-server started with no --model"
# systemd's own check of the unit (unknown keys, bad values), its ExecStart pointed into the root.
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/bin/infusion-server|$ROOT/usr/bin/infusion-server|" \
    "$ROOT/usr/lib/systemd/system/infusion-server.service" >"$WORK/infusion-server.service"
  VERIFY=$(systemd-analyze verify "$WORK/infusion-server.service" 2>&1) || fail "$VERIFY"
  [ -z "$VERIFY" ] || fail "systemd-analyze verify: $VERIFY"
  echo "systemd-analyze verify infusion-server.service: no findings"
fi
for name in infusion infusion-bench infusion-eval infusion-server infusion-tool infusion-train; do
  out=$("${RUN[@]}" "$INSTALLED/bin/$name" --version)
  echo "$out"
  [ "$out" = "$name $VERSION" ] || fail "$name --version: $out"
done
FLAGS_FILE="${INSTALLED%/usr}/etc/infusion/infusion-server.flags"
# The unit's flags file, then test ports (the later flag wins).
"${RUN[@]}" GOMP_SPINCOUNT=1000 "$INSTALLED/bin/infusion-server" --flagfile="$FLAGS_FILE" \
  --host=127.0.0.1 --port=0 --http_port=0 --metrics_port=0 --port_file="$IN/ports" \
  --threads=2 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  grep -q '^http ' "$HOST/ports" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; fail "infusion-server exited"; }
  sleep 0.2
done
grep -q '^http ' "$HOST/ports" 2>/dev/null || fail "infusion-server did not listen"
GRPC=$(awk '$1 == "grpc" {print $2}' "$HOST/ports")
HTTP=$(awk '$1 == "http" {print $2}' "$HOST/ports")
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
cli() { "${RUN[@]}" INFUSION_SERVER="127.0.0.1:$GRPC" "$INSTALLED/bin/infusion" "$@"; }
echo "infusion health: $(cli health infusion.v1.Infusion)"
cli --timeout=120s t2i "a red circle" -o "$IN/first.png" 2>"$WORK/t2i.log" \
  || { cat "$WORK/t2i.log"; fail "text-to-image failed"; }
grep '^wrote' "$WORK/t2i.log"
SEED=$(sed -n 's/^wrote .* (seed \([0-9]*\))$/\1/p' "$WORK/t2i.log")
[ -n "$SEED" ] || fail "no seed printed"
cli --timeout=120s --seed="$SEED" t2i "a red circle" -o "$IN/again.png" 2>"$WORK/t2i.log" \
  || { cat "$WORK/t2i.log"; fail "text-to-image with --seed failed"; }
grep '^wrote' "$WORK/t2i.log"
[ "$(head -c 4 "$HOST/first.png" | tail -c 3)" = PNG ] || fail "first.png is not a PNG"
cmp "$HOST/first.png" "$HOST/again.png" || fail "the same seed drew a different image"
echo "same seed, same PNG: $(stat -c %s "$HOST/first.png") bytes," \
     "sha256 $(sha256sum <"$HOST/first.png" | cut -c1-16)"

step "5. SIGTERM: drain and exit"
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
grep -o 'SIGTERM received' "$WORK/server.log" || true
[ "$status" = 0 ] || { tail -20 "$WORK/server.log"; fail "infusion-server exited $status"; }
echo "infusion-server exited 0"
echo "package: OK $BUILD_DIR/packages/$(basename "$DEB") ($MODE)"
