#!/bin/bash
# Builds the prebuilt addons that npm pack ships: prebuilds/linux-<arch>/<npm name>.glibc.node
# (prebuildify names them after the package), N-API (one binary for every Node that engines allows),
# stripped, tagged glibc so that node-gyp-build does not offer them on musl (Alpine), where the
# install compiles instead. x64 with the host's g++; arm64 cross-compiled with Debian's
# aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu). node-gyp-build loads them at run
# time; without a matching prebuild it compiles (npm install runs `node-gyp-build`).
#
#   .ci/prebuild.sh [x64] [arm64]     (default: both)
#
# prebuildify rebuilds in build/; the developer's build/ is set aside first and put back after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PREBUILD_LIBC=glibc
[ $# -gt 0 ] || set -- x64 arm64
host_arch=$(node -p process.arch)
name=$(node -p "require('./package.json').name")
prebuildify=node_modules/.bin/prebuildify
[ -x "$prebuildify" ] || { echo "prebuild: run npm ci first (prebuildify is a devDependency)" >&2; exit 1; }

log=$(mktemp "${TMPDIR:-/tmp}/prebuild.XXXXXX.log")
saved=""
if [ -d build ]; then
  saved=$(mktemp -d "$PWD/.build-saved.XXXXXX")
  mv build "$saved/build"
fi
restore() {
  rm -f "$log"
  rm -rf build
  if [ -n "$saved" ]; then mv "$saved/build" build && rmdir "$saved"; fi
}
trap restore EXIT

# prebuildify --napi would target the newest Node that node-abi knows (and download its headers):
# build against the running Node's headers instead (N-API: the binary works on every later Node).
# node-gyp takes them from npm's nodedir when set, else from next to node, else it downloads them.
target=$(node -p 'process.versions.node')
if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  prefix=$(cd "$(dirname "$(node -p process.execPath)")/.." && pwd)
  if [ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ]; then
    export npm_config_nodedir=$nodedir
  elif [ -f "$prefix/include/node/node_api.h" ]; then
    export npm_config_nodedir=$prefix
  fi
fi
for arch in "$@"; do
  t0=$(date +%s)
  case "$arch" in
    "$host_arch")
      "$prebuildify" --napi --strip --tag-libc --target "$target" >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
      machine=$([ "$arch" = x64 ] && echo 'Advanced Micro Devices X86-64' || echo AArch64) ;;
    arm64)
      command -v aarch64-linux-gnu-g++ >/dev/null || { echo "prebuild: apt-get install g++-aarch64-linux-gnu" >&2; exit 1; }
      CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
        PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip \
        "$prebuildify" --napi --strip --tag-libc --target "$target" --arch arm64 >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
      machine=AArch64 ;;
    *) echo "prebuild: can build x64 (on an x64 host) and arm64, not '$arch'" >&2; exit 2 ;;
  esac
  out=prebuilds/linux-$arch/$name.glibc.node
  # The `sandbox` command's native client (csrc/client/client.c), static: no glibc version to check.
  cp build/Release/sandbox-client "prebuilds/linux-$arch/sandbox-client"
  got=$(LC_ALL=C readelf -h "prebuilds/linux-$arch/sandbox-client" | sed -n 's/^ *Machine: *//p')
  [ "$got" = "$machine" ] || { echo "prebuild: sandbox-client is '$got', expected $machine" >&2; exit 1; }
  got=$(LC_ALL=C readelf -h "$out" | sed -n 's/^ *Machine: *//p')
  [ "$got" = "$machine" ] || { echo "prebuild: $out is '$got', expected $machine" >&2; exit 1; }
  glibc=$(LC_ALL=C readelf -W --dyn-syms "$out" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  echo "prebuild: $out ($(stat -c %s "$out") bytes, needs $glibc) in $(( $(date +%s) - t0 ))s"
  # README promises what Node 20 itself needs: a newer symbol (glibc moves functions between
  # versions, e.g. openpty in 2.34) must be avoided in csrc/, not shipped.
  newest=$(printf '%s\n' "$glibc" GLIBC_2.28 | sort -V | tail -1)
  [ "$newest" = GLIBC_2.28 ] || { echo "prebuild: $out needs $glibc, README promises glibc 2.28:" \
    "$(LC_ALL=C readelf -W --dyn-syms "$out" | grep -oE '[a-z_0-9]+@GLIBC_2\.(29|3[0-9])' | sort -u | tr '\n' ' ')" >&2; exit 1; }
done
