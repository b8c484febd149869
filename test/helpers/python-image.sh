#!/bin/bash
# Builds the Python image the image tests and bench/image.ts use: a Debian minbase root with
# python3-minimal (debootstrap), as a rootfs tarball, cached under the fixture cache keyed by what
# makes it (suite, packages, mirror, architecture). Prints the tarball's path. Needs root and
# debootstrap; reaches only the Debian mirror this host's apt uses.
#   usage: bash test/helpers/python-image.sh            prints the path; builds when missing
#          bash test/helpers/python-image.sh --cached   prints the path, or exits 3 when missing
set -euo pipefail
SUITE=${PYTHON_IMAGE_SUITE:-bookworm}
PACKAGES=python3-minimal
ARCH=$(dpkg --print-architecture)
# The mirror apt uses here: the first URIs: (deb822) or deb line of the main archive.
mirror() {
  local m
  m=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 | awk '{print $2}') || true
  [ -n "$m" ] || m=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 | awk '{print $2}') || true
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=${PYTHON_IMAGE_MIRROR:-$(mirror)}
CACHE=${SANDBOX_FIXTURE_CACHE:-$HOME/.cache/sandbox-fixtures}
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "$MIRROR" "$ARCH" v1 | sha256sum | cut -c1-16)
OUT=$CACHE/python-image-$KEY.tar.gz
if [ -s "$OUT" ]; then echo "$OUT"; exit 0; fi
[ "${1:-}" = --cached ] && exit 3
[ "$(id -u)" = 0 ] || { echo "python-image.sh: debootstrap needs root ($OUT is missing)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "python-image.sh: apt-get install debootstrap" >&2; exit 1; }
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/python-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$MIRROR" >"$work/log" 2>&1 ||
  { tail -20 "$work/log" >&2; exit 1; }
# What a container image leaves out: package caches and logs.
rm -rf "$work/root/var/cache/apt/archives"/*.deb "$work/root/var/lib/apt/lists"/* "$work/root/var/log"/*
tar -C "$work/root" --numeric-owner -czf "$work/out.tar.gz" .
chmod 644 "$work/out.tar.gz"
mv "$work/out.tar.gz" "$OUT"
echo "python-image.sh: built in $(( $(date +%s) - t0 )) s" >&2
echo "$OUT"
