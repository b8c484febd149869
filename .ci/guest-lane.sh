#!/bin/bash
# A background lane of .ci/run: guests of ../shared/vm beside the host phases, on the newest LTS
# line (test/vm/run.sh's default). Both lanes run from the snapshot of the project that .ci/run takes
# after npm ci (STATE_DIR/project: the addon, dist/): a guest sees the tree it runs from live, and
# npm test and the prebuilds rebuild (and set aside) build/ in the project meanwhile.
#
#   .ci/guest-lane.sh STATE_DIR v2
#     the cgroup v2 subset with the image tests, in one boot as root and in one (with the serve
#     tests) as a delegated user
#   .ci/guest-lane.sh STATE_DIR systemd-arm64
#     the cgroup routes under systemd (root, --user) and the serve tests as root while the
#     foreground makes the prebuilds; then builds the arm64 image when missing (11-15 min: its debootstrap second stage runs emulated),
#     waits for the prebuilds (STATE_DIR/prebuilds.done), copies them into the snapshot and runs the
#     arm64 subset on the cross-built one when it fits the budget
#
# env: SANDBOX_VM_DIR, CI_T0, CI_BUDGET, CI_ARM64 (auto|1|0). Each step is a line "name|seconds|status"
# in STATE_DIR/phases and each guest run a line "node line|platform|what|status" in
# STATE_DIR/matrix, which .ci/run adds to its summary.
set -uo pipefail
state=${1:?usage: guest-lane.sh STATE_DIR v2|systemd-arm64}
lane=${2:?usage: guest-lane.sh STATE_DIR v2|systemd-arm64}
vm_dir=${SANDBOX_VM_DIR:?}
project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$state/project"
lane_say() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - CI_T0 ))s] lane $lane: $*"; }
record() { echo "$1 (lane $lane)|$2|$3" >>"$state/phases"; lane_say "== $1: $3 ($2 s)"; }
step() {
  local name=$1 t0 rc=0; shift
  t0=$(date +%s)
  lane_say "== $name: $*"
  "$@" || rc=$?
  record "$name" $(( $(date +%s) - t0 )) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")"
  return $rc
}
# guest PLATFORM WHAT TIMEOUT test/vm/run.sh-ARGS...: one guest run on the newest LTS line (test/vm/run.sh's
# default), in the phases and in the Node matrix.
node_line=$(bash .ci/node.sh lts)
# A failed run's excerpt (its failed tests and ava's account of them) goes to STATE_DIR/failures,
# which .ci/run prints beside its summary: the end of CI's output names what failed.
guest() {
  local platform=$1 what=$2 timeout=$3 rc=0 out; shift 3
  out=$(mktemp "$state/guest.XXXXXX")
  step "$platform: $what" env SANDBOX_VM_TIMEOUT="$timeout" bash test/vm/run.sh "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  echo "$node_line|$platform|$what|$([ $rc = 0 ] && echo ok || echo FAILED)" >>"$state/matrix"
  [ $rc = 0 ] || failure_excerpt "$platform: $what" "$out" >>"$state/failures"
  rm -f "$out"
  return $rc
}
# failure_excerpt TITLE LOG: the ✘ lines, then ava's failure report (from its closing rule on);
# without one (a guest that timed out or did not boot), the log's last lines.
failure_excerpt() {
  echo "== $1"
  grep -a '✘' "$2" | head -15
  if grep -aq '^ *─ *$' "$2"; then
    awk '/^ *─ *$/ { n++ } n >= 1' "$2" | grep -av '^ *$' | head -40
  else
    tail -n 25 "$2"
  fi
}

case "$lane" in
  v2)
    rc=0
    step "x86_64 guest image" "$vm_dir/build-image.sh" x86_64 || exit 1
    # One boot per user for its lists; a file in two lists runs once (test/vm/guest.sh). The serve
    # list as root runs in the other lane, which waits for the prebuilds anyway: this one is CI's
    # longest path.
    guest "x86_64 cgroup v2" "v2 + image, root" 1500 x86_64 v2,image || rc=1
    guest "x86_64 cgroup v2" "v2 + image + serve, --user" 1500 x86_64 v2,image,serve --user || rc=1
    exit $rc ;;
  systemd-arm64)
    rc=0
    # The x86_64 image: the v2 lane builds it (the build takes a lock; here it waits or is a no-op).
    step "x86_64 guest image" "$vm_dir/build-image.sh" x86_64 || exit 1
    # Under systemd: the routes to a cgroup from a shared cgroup (docs/cgroups-v2.md), as root in a
    # service and as a user in a login session with a user manager.
    guest "x86_64 cgroup v2" "routes under systemd, root" 900 x86_64 cgv2 --systemd || rc=1
    guest "x86_64 cgroup v2" "routes under systemd, --user" 900 x86_64 cgv2 --systemd --user || rc=1
    guest "x86_64 cgroup v2" "serve, root" 900 x86_64 serve || rc=1
    if [ "${CI_ARM64:-auto}" = 0 ]; then
      record "arm64 subset (prebuild), root" 0 "skipped: CI_ARM64=0"
      echo "$node_line|arm64 cgroup v2|subset on the prebuild, root|skipped" >>"$state/matrix"
      exit $rc
    fi
    step "arm64 guest image" "$vm_dir/build-image.sh" arm64 || exit 1
    t0=$(date +%s)
    until [ -e "$state/prebuilds.done" ]; do sleep 2; done
    lane_say "prebuilds ready (waited $(( $(date +%s) - t0 )) s)"
    rm -rf prebuilds && cp -a "$project/prebuilds" . || exit 1
    need=480 # the arm64 subset, measured: 3-8 min
    spent=$(( $(date +%s) - CI_T0 ))
    if [ "${CI_ARM64:-auto}" != 1 ] && [ $(( spent + need )) -gt "${CI_BUDGET:-1800}" ]; then
      record "arm64 subset (prebuild), root" 0 "skipped: ${spent}s spent + ~${need}s needed > CI_BUDGET=${CI_BUDGET:-1800}s (CI_ARM64=1 forces it)"
      echo "$node_line|arm64 cgroup v2|subset on the prebuild, root|skipped" >>"$state/matrix"
      exit $rc
    fi
    guest "arm64 cgroup v2" "subset on the prebuild, root" 1200 arm64 arm64 || rc=1
    exit $rc ;;
  *) echo "guest-lane.sh: unknown lane '$lane' (v2 or systemd-arm64)" >&2; exit 2 ;;
esac
