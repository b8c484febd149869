#!/bin/bash
# Runs a subset of the tests in a guest of the VM scripts: x86_64 with pure cgroup v2, or arm64.
#
#   test/vm/run.sh x86_64|arm64 LIST[,LIST...] [--user] [other options of the VM scripts' run.sh]
#
# LIST names test/vm/LIST.list: v2 (limits and accounting, the cgroup driver, the smoke test),
# arm64 (the smoke test and the seccomp filter), image, serve, or all (every test file). Several
# lists joined by commas run in one boot, as one ava run. Examples:
#   test/vm/run.sh x86_64 v2            # as root
#   test/vm/run.sh x86_64 v2,image,serve --user   # as an unprivileged user in a delegated cgroup
#   test/vm/run.sh arm64 arm64          # on the cross-built arm64 prebuild
#   SANDBOX_VM_ADDON=rebuild test/vm/run.sh arm64 all --user   # everything, addon compiled in the guest
#
# The guest runs the tests on the newest LTS Node line of .ci/node.sh (node-linux-<arch> from the npm
# registry, unpacked under node_modules/.cache/node, which the guest sees at the same path), as the
# host's CI does; SANDBOX_VM_NODE=VERSION picks another line, SANDBOX_VM_NODE=image the image's own.
# On the host first: the addon (npm run build:native) for x86_64; for arm64 the cross-built prebuild
# (made here when missing, .ci/prebuild.sh arm64) and esbuild's arm64 binary for tsx (fetched here
# into node_modules/@esbuild/linux-arm64, inert on an x86_64 host). The image tests get the host's
# busybox-static through a read-only share. The guest sees the project through an overlay: nothing
# it writes reaches the host. VM images are built on first use (x86_64 about 1.5 min, arm64 11-15 min).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ $# -ge 2 ] || { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
arch=$1 lists=$2; shift 2
case "$arch" in
  x86_64|x64|amd64) arch=x86_64 node_arch=x64 ;;
  arm64|aarch64) arch=arm64 node_arch=arm64 ;;
  *) echo "test/vm/run.sh: unknown architecture '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
for list in ${lists//,/ }; do
  [ -f "test/vm/$list.list" ] || { echo "test/vm/run.sh: no test/vm/$list.list" >&2; exit 2; }
done

# The VM scripts: $SANDBOX_VM_DIR, else ../shared/vm next to the project, else /work/shared/vm.
vm_dir=${SANDBOX_VM_DIR:-}
if [ -z "$vm_dir" ]; then
  for d in ../shared/vm /work/shared/vm; do
    [ -x "$d/run.sh" ] && { vm_dir=$(cd "$d" && pwd); break; }
  done
fi
[ -n "$vm_dir" ] && [ -x "$vm_dir/run.sh" ] ||
  { echo "test/vm/run.sh: the VM scripts (shared/vm/run.sh) were not found; set SANDBOX_VM_DIR" >&2; exit 1; }

addon=${SANDBOX_VM_ADDON:-$([ "$node_arch" = x64 ] && echo build || echo prebuild)}
host_arch=$(node -p process.arch)
case "$addon" in
  build)
    [ "$node_arch" = "$host_arch" ] || { echo "test/vm/run.sh: SANDBOX_VM_ADDON=build needs a $node_arch host" >&2; exit 2; }
    [ -f build/Release/sandbox.node ] || { echo "test/vm/run.sh: build the addon first (npm run build:native)" >&2; exit 1; } ;;
  prebuild)
    [ -n "$(ls "prebuilds/linux-$node_arch/"*.node 2>/dev/null)" ] || bash .ci/prebuild.sh "$node_arch" ;;
esac

# esbuild's binary for the guest's architecture, the same version as the host's esbuild.
esbuild_pkg=@esbuild/linux-$node_arch
if [ ! -d "node_modules/$esbuild_pkg" ]; then
  version=$(node -p "require('esbuild/package.json').version")
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$esbuild_pkg@$version" >/dev/null)
  mkdir -p "node_modules/$esbuild_pkg"
  tar -xzf "$tmp"/*.tgz -C "node_modules/$esbuild_pkg" --strip-components=1
  rm -rf "$tmp"
  echo "test/vm/run.sh: fetched $esbuild_pkg@$version for tsx in the guest"
fi

# The Node line the guest runs: its bin directory has the same path in the guest.
guest_env=(-e SANDBOX_VM_ADDON="$addon")
node_line=${SANDBOX_VM_NODE:-$(bash .ci/node.sh lts)}
if [ "$node_line" != image ]; then
  guest_env+=(-e SANDBOX_VM_NODE_BIN="$(bash .ci/node.sh bin "$node_line" "$node_arch")")
fi

# busybox-static for the image tests and serve's image test (the guest image has none), and the
# Python image when the host has it built: copies in a directory shared read-only, removed when the
# guest ends.
shares=()
case ",$lists," in
  *,image,*|*,serve,*|*,all,*)
    busybox=$(command -v busybox || true)
    [ -n "$busybox" ] || { echo "test/vm/run.sh: the image and serve tests need busybox-static on the host" >&2; exit 1; }
    share_dir=$(mktemp -d)
    trap 'rm -rf "$share_dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cp "$busybox" "$share_dir/busybox"
    chmod 755 "$share_dir" "$share_dir/busybox"
    shares=(--share "$share_dir")
    guest_env+=(-e SANDBOX_TEST_BUSYBOX="$share_dir/busybox")
    # The Python image (test/helpers/python-image.sh), when the host's fixture cache has it.
    if python_tar=$(bash test/helpers/python-image.sh --cached 2>/dev/null); then
      cp "$python_tar" "$share_dir/python-image.tar.gz"
      chmod 644 "$share_dir/python-image.tar.gz"
      guest_env+=(-e SANDBOX_PYTHON_IMAGE="$share_dir/python-image.tar.gz")
    fi ;;
esac

# Under QEMU's "max" arm64 CPU (the VM scripts' default) Node itself crashes with SIGSEGV/SIGILL
# (tonistiigi/binfmt#215); a Cortex-A72 model runs the whole suite.
[ "$arch" = arm64 ] && export VM_CPU=${VM_CPU:-cortex-a72}

# The guest inherits CI; the runner's own timeout bounds a hung guest.
"$vm_dir/run.sh" "$arch" --timeout "${SANDBOX_VM_TIMEOUT:-1500}" "${guest_env[@]}" "${shares[@]}" "$@" \
  -- bash test/vm/guest.sh "$lists"
