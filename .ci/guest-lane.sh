#!/bin/bash
# The background lane of .ci/run: the arm64 guest, beside the host phases and the x86_64 guest
# (which .ci/run runs itself), started right after apt-get unless CI_ARM64=0 (building the image
# takes 11-15 min alone, 21 min beside the rest on 2026-11-29: its debootstrap second stage runs
# emulated):
#   1. builds the arm64 image when it is missing (a no-op when cached);
#   2. waits for the foreground's prebuilds (STATE/prebuilds.done), then runs the arm64 subset
#      (test/vm/arm64.list) on the cross-built prebuild, when it fits the budget.
# Each step is a line "name|seconds|status" in STATE/phases, which .ci/run adds to its summary.
#
#   .ci/guest-lane.sh STATE_DIR     env: SANDBOX_VM_DIR, CI_ARM64 (auto|1), CI_T0, CI_BUDGET
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
state=${1:?usage: guest-lane.sh STATE_DIR}
vm_dir=${SANDBOX_VM_DIR:?}
lane_say() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - CI_T0 ))s] lane: $*"; }
record() { echo "$1|$2|$3" >>"$state/phases"; lane_say "== $1: $3 ($2 s)"; }
step() {
  local name=$1 t0 rc=0; shift
  t0=$(date +%s)
  lane_say "== $name: $*"
  "$@" || rc=$?
  record "$name" $(( $(date +%s) - t0 )) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")"
  return $rc
}

# Both image builds fetch the same npm tarball into the shared downloads directory, and the
# x86_64 build (in the foreground) starts while this one runs: fetch it first, atomically.
prefetch_npm() {
  (set +u; . "$vm_dir/lib.sh"
   f=$CACHE_ROOT/downloads/npm-$NPM_VERSION.tgz
   [ -s "$f" ] && exit 0
   mkdir -p "$CACHE_ROOT/downloads" && tmp=$(mktemp -d "$CACHE_ROOT/downloads/.npm.XXXXXX") &&
     (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) && mv "$tmp/npm-$NPM_VERSION.tgz" "$f"
   rc=$?; rm -rf "$tmp"; exit $rc)
}
step "npm tarball for the guests (lane)" prefetch_npm || exit 1
step "arm64 guest image (lane)" "$vm_dir/build-image.sh" arm64 || exit 1

t0=$(date +%s)
until [ -e "$state/prebuilds.done" ]; do sleep 2; done
lane_say "prebuilds ready (waited $(( $(date +%s) - t0 )) s)"
need=420  # the arm64 subset, measured: 3-7 min
spent=$(( $(date +%s) - CI_T0 ))
if [ "${CI_ARM64:-auto}" != 1 ] && [ $(( spent + need )) -gt "${CI_BUDGET:-1800}" ]; then
  record "arm64 subset (prebuild), root" 0 "skipped: ${spent}s spent + ~${need}s needed > CI_BUDGET=${CI_BUDGET:-1800}s (CI_ARM64=1 forces it)"
  exit 0
fi
step "arm64 subset (prebuild), root (lane)" env SANDBOX_VM_TIMEOUT=1200 bash test/vm/run.sh arm64 arm64
