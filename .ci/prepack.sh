#!/bin/bash
# npm's prepack hook: says which prebuilt addons the tarball will carry. Build them first with
# `npm run prebuilds` (x64 here, arm64 with the cross compiler); without a matching prebuild,
# installing the package compiles the addon (node-gyp: needs g++, make and python3).
# SANDBOX_REQUIRE_PREBUILDS=1 (a release) makes a missing linux-x64 or linux-arm64 prebuild an error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name=$(node -p "require('./package.json').name")
# The tarball's bin serves every architecture: the launcher; the install puts the native client
# of the installing machine in its place (scripts/client-bin.mjs), postpack puts this machine's back.
node scripts/client-bin.mjs --launcher
missing=()
for arch in x64 arm64; do
  f=prebuilds/linux-$arch/$name.glibc.node
  if [ -f "$f" ]; then
    echo "prepack: $f ($(stat -c %s "$f") bytes, built $(date -u -r "$f" +%Y-%m-%dT%H:%MZ))"
  else
    missing+=("linux-$arch")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "prepack: no prebuild for ${missing[*]}: users there compile on install (npm run prebuilds makes them)" >&2
[ "${SANDBOX_REQUIRE_PREBUILDS:-0}" != 1 ] || exit 1
