#!/bin/bash
# Cross-compiles csrc/ for arm64 with Debian's aarch64-linux-gnu-g++ (issue 2): the static
# sandbox-init executable, every addon source to an object against Node's headers, and the link of
# sandbox.node, with the same flags node-gyp uses (build/sandbox.target.mk). The syscall numbers,
# clone3 argument order and struct layouts differ on arm64; this proves they compile there.
# It does not run anything: the arm64 guest does that (test/vm/run.sh arm64).
#
#   .ci/arm64-cross.sh [OUT_DIR]      (default: a temporary directory, removed afterwards)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CXX=${CROSS_CXX:-aarch64-linux-gnu-g++}
command -v "$CXX" >/dev/null || { echo "arm64-cross: $CXX not found (apt-get install g++-aarch64-linux-gnu)" >&2; exit 1; }

# Node's headers: node-gyp's download cache, else the headers installed next to node, else npm's nodedir.
node_version=$(node -p 'process.versions.node')
node_inc=""
for d in "${npm_config_devdir:-$HOME/.cache/node-gyp}/$node_version/include/node" \
         "$(dirname "$(node -p 'process.execPath')")/../include/node" \
         "$(npm config get nodedir 2>/dev/null || true)/include/node"; do
  if [ -f "$d/node_api.h" ]; then node_inc=$(cd "$d" && pwd); break; fi
done
[ -n "$node_inc" ] || { echo "arm64-cross: Node's headers not found (run: node node_modules/.bin/node-gyp install)" >&2; exit 1; }
napi_inc=$(node -p "require('node-addon-api').include_dir")
napi_inc=$(cd "$napi_inc" && pwd)

if [ $# -ge 1 ]; then
  out=$1; mkdir -p "$out"
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/arm64-cross.XXXXXX"); trap 'rm -rf "$out"' EXIT
fi
echo "arm64-cross: $($CXX --version | head -1); Node headers $node_inc; node-addon-api $napi_inc"

common=(-Wall -Wextra -O2 -std=c++17 -fno-rtti -fno-exceptions
        -D_FILE_OFFSET_BITS=64 -D_LARGEFILE_SOURCE)

# 1. pid 1 of every sandbox: static, as binding.gyp builds it.
init_objs=()
for src in csrc/init/*.cc csrc/loopback.cc; do
  obj=$out/init-$(basename "${src%.cc}").o
  "$CXX" "${common[@]}" -fno-asynchronous-unwind-tables -fno-stack-protector -fno-tree-loop-distribute-patterns -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0 \
    -c "$src" -o "$obj"
  init_objs+=("$obj")
done
"$CXX" -static -nostdlib -s "${init_objs[@]}" -lgcc -o "$out/sandbox-init"

# 2. The addon's objects; init_blob.cc's .incbin finds the aarch64 sandbox-init through -Wa,-I.
addon_objs=()
for src in csrc/*.cc; do
  obj=$out/addon-$(basename "${src%.cc}").o
  "$CXX" "${common[@]}" -fPIC -pthread -Wno-unused-parameter \
    -DNAPI_DISABLE_CPP_EXCEPTIONS -DNAPI_VERSION=8 -DBUILDING_NODE_EXTENSION -DNODE_GYP_MODULE_NAME=sandbox \
    -I"$node_inc" -I"$napi_inc" "-Wa,-I$out" -c "$src" -o "$obj"
  addon_objs+=("$obj")
done
# 3. Link it as node-gyp does (N-API symbols stay undefined: node provides them at load time).
"$CXX" -shared -pthread -rdynamic "${addon_objs[@]}" -o "$out/sandbox.node"

# 4. The `sandbox` command's native client: static C, as binding.gyp builds it.
"${CC:-aarch64-linux-gnu-gcc}" -std=gnu11 -O2 -Wall -Wextra -static -s csrc/client/client.c -o "$out/sandbox-client"

# The result must really be aarch64, and the embedded init must be the aarch64 one.
for f in "$out/sandbox-init" "$out/sandbox.node" "$out/sandbox-client" "${addon_objs[0]}"; do
  machine=$(LC_ALL=C readelf -h "$f" | sed -n 's/^ *Machine: *//p')
  [ "$machine" = AArch64 ] || { echo "arm64-cross: $f is '$machine', not AArch64" >&2; exit 1; }
done
init_size=$(stat -c %s "$out/sandbox-init")
syms=$(LC_ALL=C aarch64-linux-gnu-nm "$out/addon-init_blob.o")
start=$(awk '$3=="sbx_init_start"{print $1}' <<<"$syms")
end=$(awk '$3=="sbx_init_end"{print $1}' <<<"$syms")
blob_size=$(( 16#${end:-0} - 16#${start:-0} ))
[ "$blob_size" = "$init_size" ] ||
  { echo "arm64-cross: the embedded init is $blob_size bytes, sandbox-init is $init_size" >&2; exit 1; }
echo "arm64-cross: ok: ${#init_objs[@]} init + ${#addon_objs[@]} addon sources; sandbox-init $init_size bytes (static AArch64), sandbox.node $(stat -c %s "$out/sandbox.node") bytes (AArch64), sandbox-client $(stat -c %s "$out/sandbox-client") bytes (static AArch64)"
