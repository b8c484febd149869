#!/bin/bash
# Proves that the npm pack tarball installs and runs on a machine with no compiler: packs the
# project (with whatever prebuilds/ holds), installs the tarball in a fresh directory with a PATH
# that has node, npm and a shell but no g++, cc, make or python, and runs `sandbox exec -- true`
# and `sandbox exec -- uname -m` with the installed CLI. Also checks that the tarball holds no tests,
# bench or TypeScript sources.
#
#   .ci/pack-check.sh            (run npm run prebuilds first; KEEP=1 keeps the work directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
project=$PWD
arch=$(node -p process.arch)
[ -n "$(ls "prebuilds/linux-$arch/"*.node 2>/dev/null)" ] ||
  { echo "pack-check: no prebuilds/linux-$arch: npm run prebuilds first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pack-check.XXXXXX")
chmod 755 "$work"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# 1. The tarball: what users need only.
npm pack --silent --pack-destination "$work" >"$work/pack.out"
tgz=$work/$(tail -1 "$work/pack.out")
tar -tzf "$tgz" | sed 's|^package/||' | sort >"$work/files"
echo "pack-check: $(basename "$tgz"): $(wc -l <"$work/files") files, $(( $(stat -c %s "$tgz") / 1024 )) KiB"
bad=$(grep -E '^(test|bench|lib|\.ci|dist/(test|bench))/|\.ts$' "$work/files" | grep -v '\.d\.ts$' || true)
[ -z "$bad" ] || { echo "pack-check: the tarball holds files users do not need:" >&2; echo "$bad" >&2; exit 1; }
for need in package.json README.md binding.gyp dist/lib/index.js dist/lib/index.d.ts dist/lib/sandbox-cli.cjs dist/lib/sandbox-cli.bundle.cjs \
            "prebuilds/linux-$arch/sandbox.glibc.node"; do
  grep -qx "$need" "$work/files" || { echo "pack-check: the tarball lacks $need" >&2; exit 1; }
done
grep '^prebuilds/' "$work/files" | sed 's/^/pack-check:   /'

# 2. A PATH with no compiler: node, npm, a shell and the few tools npm's scripts use.
bin=$work/bin
mkdir -p "$bin"
for tool in node npm sh bash env; do
  ln -s "$(command -v "$tool")" "$bin/$tool"
done
for tool in g++ gcc cc c++ make python3; do
  PATH=$bin command -v "$tool" >/dev/null 2>&1 && { echo "pack-check: $tool is still on the stripped PATH" >&2; exit 1; }
done

# 3. Install the tarball in a fresh directory (npm runs the package's install script, node-gyp-build:
#    it finds the prebuild, so nothing is compiled; with no prebuild it would need g++ and fail).
app=$work/app
mkdir -p "$app"
echo '{"name":"pack-check-app","version":"1.0.0","private":true}' >"$app/package.json"
(cd "$app" && env -i PATH="$bin" HOME="$HOME" npm install --no-audit --no-fund --foreground-scripts "$tgz" >"$work/install.log" 2>&1) ||
  { tail -30 "$work/install.log" >&2; echo "pack-check: npm install of the tarball failed" >&2; exit 1; }
[ ! -d "$app/node_modules/sandbox/build" ] || { echo "pack-check: the install compiled the addon (build/ exists)" >&2; exit 1; }
loaded=$(cd "$app" && env -i PATH="$bin" node -e "console.log(require('node-gyp-build').resolve('node_modules/sandbox'))")
echo "pack-check: installed with PATH=$bin (node npm sh bash env); the addon loads from ${loaded#"$app/"}"

# 4. The CLI runs a sandbox.
out=$(cd "$app" && env -i PATH="$bin" HOME="$HOME" node_modules/.bin/sandbox exec -- true && echo "true: exit 0")
echo "pack-check: sandbox exec -- true: $out"
out=$(cd "$app" && env -i PATH="$bin" HOME="$HOME" node_modules/.bin/sandbox exec -- uname -m)
echo "pack-check: sandbox exec -- uname -m: $out"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod -R a+rX "$work"
  out=$(cd "$app" && env -i PATH="$bin" HOME=/tmp "$(command -v setpriv)" --reuid=65534 --regid=65534 --clear-groups \
    node_modules/.bin/sandbox exec -- id -u)
  echo "pack-check: as uid 65534, sandbox exec -- id -u: $out"
fi
echo "pack-check: ok ($project)"
