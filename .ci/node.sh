#!/bin/bash
# The Node.js lines the package supports, as CI tests them: the official binaries and headers from
# the npm registry's node-linux-<arch> packages. The tarballs are kept in the fixture cache; each is
# unpacked into the project's node_modules/.cache/node/, which the rootless tests' uid 65534 reaches
# wherever it reaches the project (a cache under root's home, mode 0700, it does not).
#
#   .ci/node.sh lines                the supported lines' versions, newest LTS first (one a line)
#   .ci/node.sh lts                  the newest LTS line's version
#   .ci/node.sh bin VERSION [ARCH]   installs VERSION when missing; prints its bin directory (ARCH:
#                                    x64 or arm64, default this host's; test/vm/run.sh asks for the
#                                    guest's)
#
# package.json's engines says the same range: change both together (test/unit/package.test.ts).
set -euo pipefail

# The newest release of each line when it was last raised; the first is the newest LTS line (the
# one the whole `npm test` runs on), the others get the integration and security tests.
LINES=(24.22.3 22.23.5 26.12.1)

cache=${SANDBOX_FIXTURE_CACHE:-$HOME/.cache/sandbox-fixtures}/node
unpacked=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/node_modules/.cache/node

install_line() {
  local version=$1 arch=${2:-} pkg tgz dir tmp host_arch
  host_arch=$(node -p process.arch)
  arch=${arch:-$host_arch}
  case "$arch" in x64|arm64) ;; *) echo "node.sh: unknown architecture '$arch' (x64 or arm64)" >&2; exit 2 ;; esac
  pkg=node-linux-$arch
  tgz=$cache/$pkg-$version.tgz
  dir=$unpacked/$pkg-$version
  if [ ! -f "$tgz" ]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    # npm pack checks the tarball against the registry's integrity hash.
    (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
    mv "$tmp/$pkg-$version.tgz" "$tgz" # whole or absent for a concurrent reader
    rm -rf "$tmp"
  fi
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$unpacked"
    tmp=$(mktemp -d "$unpacked/.unpack.XXXXXX")
    mkdir "$tmp/root"
    tar -xzf "$tgz" -C "$tmp/root" --strip-components=1 --no-same-owner
    # Another architecture's binary cannot run here: the guest runs it (test/vm/guest.sh checks it).
    if [ "$arch" = "$host_arch" ] && [ "$("$tmp/root/bin/node" -p process.version)" != "v$version" ]; then
      echo "node.sh: $pkg@$version does not run as Node $version" >&2; rm -rf "$tmp"; exit 1
    fi
    chmod -R a+rX "$tmp/root"
    rm -rf "$dir"
    mv "$tmp/root" "$dir" # a concurrent reader sees the whole directory or none
    rm -rf "$tmp"
  fi
  echo "$dir/bin"
}

case "${1:-}" in
  lines) printf '%s\n' "${LINES[@]}" ;;
  lts) echo "${LINES[0]}" ;;
  bin) [ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: .ci/node.sh bin VERSION [ARCH]" >&2; exit 2; }; install_line "$2" "${3:-}" ;;
  *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
