#!/bin/bash
# Runs inside a guest of the VM scripts (started by test/vm/run.sh): puts the Node line run.sh
# chose first on PATH, picks the addon for this architecture, then runs the tests of
# test/vm/LIST.list (several: LIST,LIST...) with ava (through tsx, as npm test does).
#
#   bash test/vm/guest.sh LIST[,LIST...]
#
# SANDBOX_VM_NODE_BIN is the bin directory of a node-linux-<arch> tarball unpacked by .ci/node.sh
# (the project's node_modules/.cache/node, seen here at the host's path); unset, the image's Node runs.
#
# SANDBOX_VM_ADDON chooses the addon:
#   build     the host's build/Release (same Debian bookworm and glibc as the guest; x86_64 only)
#   prebuild  prebuilds/linux-<arch>/ (build/ is removed in the guest's overlay so node-gyp-build
#             picks the prebuild; the host's build/ is untouched)
#   rebuild   node-gyp rebuild inside the guest (slow under emulation)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
lists=${1:?usage: guest.sh LIST[,LIST...]}
for list in ${lists//,/ }; do
  [ -f "test/vm/$list.list" ] || { echo "guest: no test/vm/$list.list" >&2; exit 2; }
done
if [ -n "${SANDBOX_VM_NODE_BIN:-}" ]; then
  [ -x "$SANDBOX_VM_NODE_BIN/node" ] || { echo "guest: no node in SANDBOX_VM_NODE_BIN=$SANDBOX_VM_NODE_BIN" >&2; exit 1; }
  export PATH=$SANDBOX_VM_NODE_BIN:$PATH
fi
arch=$(node -p process.arch)
addon=${SANDBOX_VM_ADDON:-$([ "$arch" = x64 ] && echo build || echo prebuild)}
ts() { date -u +%H:%M:%S; }
T0=$(date +%s)
say() { echo "[$(ts) +$(( $(date +%s) - T0 ))s] guest: $*"; }

say "$(uname -m), kernel $(uname -r), node $(node -v) ($(command -v node)), uid $(id -u), cgroup $(stat -fc %T /sys/fs/cgroup)" \
  "$(cut -d: -f3 /proc/self/cgroup), addon: $addon"

# tsx runs esbuild's native binary: the host's node_modules has the host's only. test/vm/run.sh
# puts @esbuild/linux-<arch> of the same version next to it.
esbuild_pkg=@esbuild/linux-$arch
[ -d "node_modules/$esbuild_pkg" ] || { echo "guest: node_modules/$esbuild_pkg is missing (test/vm/run.sh fetches it)" >&2; exit 1; }

case "$addon" in
  build) ;;
  prebuild)
    [ -n "$(ls "prebuilds/linux-$arch/"*.node 2>/dev/null)" ] || { echo "guest: no prebuilds/linux-$arch/*.node" >&2; exit 1; }
    rm -rf build
    # The `sandbox` bin (dist/lib/sandbox) is the host's native client: this architecture's goes in
    # its place, as the package's install script puts it.
    node scripts/client-bin.mjs ;;
  rebuild)
    say "node-gyp rebuild"
    # Node's own headers (the guest's node came with them): nothing to download.
    node node_modules/.bin/node-gyp rebuild --nodedir="$(dirname "$(dirname "$(node -p process.execPath)")")" >/tmp/node-gyp.log 2>&1 || { tail -40 /tmp/node-gyp.log >&2; exit 1; }
    say "node-gyp rebuild done" ;;
  *) echo "guest: SANDBOX_VM_ADDON must be build, prebuild or rebuild" >&2; exit 2 ;;
esac
loaded=$(node -e "
  const r = require('node-gyp-build').resolve('.');
  require('node-gyp-build')('.');
  console.log(require('node:path').relative('.', r));")
say "addon loads: $loaded"

files=()
shopt -s nullglob globstar
for list in ${lists//,/ }; do
  while read -r pattern; do
    case "$pattern" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2206 # the pattern is a glob on purpose
    matched=($pattern)
    [ ${#matched[@]} -gt 0 ] || { say "no test file matches $pattern (skipped)"; continue; }
    for f in "${matched[@]}"; do
      # A file named by two lists runs once.
      case " ${files[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
    done
  done < "test/vm/$list.list"
done
[ ${#files[@]} -gt 0 ] || { echo "guest: $lists matches no test file" >&2; exit 1; }

say "ava ${files[*]}"
# Emulation makes everything 20-25x slower: one file at a time, with a generous timeout.
# Node itself has crashed a few times under TCG (an ava worker killed by SIGSEGV; "memory access out
# of bounds" in tsx's WebAssembly lexer), each time on a run that passed when repeated unchanged.
# Such a crash gets one more run of the whole list, announced; a failing assertion does not.
run_ava() { node node_modules/.bin/ava --timeout=10m --concurrency=1 "${files[@]}" 2>&1 | tee /tmp/ava.log; }
rc=0
run_ava || rc=$?
say "ava exited $rc"
if [ "$rc" != 0 ] && grep -qE 'exited due to SIG(SEGV|BUS|ILL)|RuntimeError: memory access out of bounds' /tmp/ava.log; then
  say "RETRY: a Node process crashed under emulation ($(grep -oE 'exited due to SIG[A-Z]+|memory access out of bounds' /tmp/ava.log | sort -u | tr '\n' ' ')); running the list once more"
  rc=0
  run_ava || rc=$?
  say "ava exited $rc (retry)"
fi
exit $rc
