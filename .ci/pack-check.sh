#!/bin/bash
# Proves that the npm pack tarball installs and runs on a machine with no compiler: packs the
# project (with whatever prebuilds/ holds), installs the tarball in a fresh directory with a PATH
# that has node, npm and a shell but no g++, cc, make or python, and runs `sandbox exec -- true`
# and `sandbox exec -- uname -m` with the installed CLI. Also checks that the tarball holds no tests,
# bench or TypeScript sources, that publint and arethetypeswrong find nothing in it, and that the
# installed package works through both `import` and `require()` (Node's require of an ES module) on
# this Node and on each Node of PACK_CHECK_NODES.
#
#   .ci/pack-check.sh    (run npm run prebuilds first; KEEP=1 keeps the work directory;
#                         PACK_CHECK_NODES="DIR..." bin directories of more Node versions to load it with)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
project=$PWD
name=$(node -p "require('./package.json').name")
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
            "prebuilds/linux-$arch/$name.glibc.node"; do
  grep -qx "$need" "$work/files" || { echo "pack-check: the tarball lacks $need" >&2; exit 1; }
done
grep '^prebuilds/' "$work/files" | sed 's/^/pack-check:   /'

# The ecosystem's own checks of the tarball. arethetypeswrong's cjs-resolves-to-esm rule holds that a
# require() of an ES module fails: it does not on the Node versions package.json's engines allows
# (require(esm) is on by default from 20.19 and 22.12), and step 5 proves it on each of them. The
# node16 profile leaves out TypeScript's node10 resolution, which predates the exports map that
# subpaths such as linux-sandbox/queue need.
node_modules/.bin/publint --strict "$tgz" >"$work/publint.out" 2>&1 ||
  { cat "$work/publint.out" >&2; echo "pack-check: publint found problems" >&2; exit 1; }
node_modules/.bin/attw "$tgz" --profile node16 --ignore-rules cjs-resolves-to-esm --format table-flipped >"$work/attw.out" 2>&1 ||
  { cat "$work/attw.out" >&2; echo "pack-check: arethetypeswrong found problems" >&2; exit 1; }
echo "pack-check: publint: $(tail -1 "$work/publint.out"); arethetypeswrong: no problems (node16 profile; cjs-resolves-to-esm ignored, see above)"

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
(cd "$app" && env -i PATH="$bin" HOME="$HOME" npm_config_globalconfig="$(npm config get globalconfig)" npm install --no-audit --no-fund --foreground-scripts "$tgz" >"$work/install.log" 2>&1) ||
  { tail -30 "$work/install.log" >&2; echo "pack-check: npm install of the tarball failed" >&2; exit 1; }
[ ! -d "$app/node_modules/$name/build" ] || { echo "pack-check: the install compiled the addon (build/ exists)" >&2; exit 1; }
loaded=$(cd "$app" && env -i PATH="$bin" node -e "console.log(require('node-gyp-build').resolve('node_modules/$name'))")
echo "pack-check: installed with PATH=$bin (node npm sh bash env); the addon loads from ${loaded#"$app/"}"

# 4. The CLI runs a sandbox. The install put the native client in the bin's place (a prebuild is
#    there); SANDBOX_SERVER=off: the client starts the Node CLI and leaves no server behind.
head -c 4 "$app/node_modules/$name/dist/lib/sandbox" | grep -q ELF ||
  { echo "pack-check: the installed bin is not the native client (scripts/client-bin.mjs did not run?)" >&2; exit 1; }
out=$(cd "$app" && env -i PATH="$bin" HOME="$HOME" SANDBOX_SERVER=off node_modules/.bin/sandbox exec -- true && echo "true: exit 0")
echo "pack-check: sandbox exec -- true: $out"
out=$(cd "$app" && env -i PATH="$bin" HOME="$HOME" SANDBOX_SERVER=off node_modules/.bin/sandbox exec -- uname -m)
echo "pack-check: sandbox exec -- uname -m: $out"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod -R a+rX "$work"
  out=$(cd "$app" && env -i PATH="$bin" HOME=/tmp SANDBOX_SERVER=off "$(command -v setpriv)" --reuid=65534 --regid=65534 --clear-groups \
    node_modules/.bin/sandbox exec -- id -u)
  echo "pack-check: as uid 65534, sandbox exec -- id -u: $out"
fi

# 5. The API from a fresh project, on each Node: import and require() reach the same module (one copy
#    of its state: no dual-package hazard), every name the docs use is there, and a sandbox runs.
cat >"$app/api-check.mjs" <<EOF
import { createRequire } from 'node:module';
const esm = await import('$name');
const cjs = createRequire(import.meta.url)('$name');
for (const k of ['Sandbox', 'SandboxError', 'diagnose', 'formatReport']) {
  if (typeof esm[k] !== 'function') throw new Error('import: no ' + k);
  if (cjs[k] !== esm[k]) throw new Error('require: ' + k + ' is not the ES module export');
}
const r = await new esm.Sandbox().run(['/bin/true']);
if (r.outcome !== 'ok') throw new Error('run: ' + JSON.stringify(r));
console.log(process.version + ': import and require() give one module; run ' + r.outcome);
EOF
cat >"$app/api-check.cjs" <<EOF
const { Sandbox } = require('$name');
new Sandbox().run(['/bin/true']).then((r) => {
  if (r.outcome !== 'ok') throw new Error('run: ' + JSON.stringify(r));
  console.log(process.version + ': a CommonJS file requires it; run ' + r.outcome);
});
EOF
for dir in "$(dirname "$(command -v node)")" ${PACK_CHECK_NODES:-}; do
  for script in api-check.mjs api-check.cjs; do
    out=$(cd "$app" && env -i PATH="$dir:$bin" HOME="$HOME" node "$script" 2>&1) ||
      { echo "$out" >&2; echo "pack-check: $script failed with $dir/node" >&2; exit 1; }
    echo "pack-check: $out"
  done
done
echo "pack-check: ok ($project)"
