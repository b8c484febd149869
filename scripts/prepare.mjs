// npm's `prepare` hook: builds the TypeScript (npm run build:ts) unless dist/ is already newer than
// every source it is built from. npm runs `prepare` on `npm install` in the checkout, on `npm pack`,
// and on `npx sandbox` in the checkout (npm packs the directory to run its bin): a user who may not
// write the checkout (a root-owned clone run by an ordinary user) then uses the dist/ that is there
// instead of failing in tsc. Plain JS: it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// What build:ts makes last (esbuild's bin after tsc and the CLI bundle), and what it is made from.
const outputs = ['dist/lib/index.js', 'dist/lib/sandbox-cli.bundle.cjs', 'dist/lib/sandbox-cli.cjs'];
const sources = ['lib', 'bench', 'tsconfig.json'];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

function oldestOutput() {
  try {
    return Math.min(...outputs.map((p) => statSync(join(root, p)).mtimeMs));
  } catch {
    return -1; // an output is missing
  }
}

const built = oldestOutput();
const source = Math.max(...sources.map((p) => newestMtime(join(root, p))));
if (built >= source) {
  console.log('prepare: dist/ is newer than lib/: nothing to build');
  process.exit(0);
}
const target = existsSync(join(root, 'dist')) ? join(root, 'dist') : root;
try {
  accessSync(target, constants.W_OK);
} catch {
  console.error(
    `prepare: dist/ is ${built < 0 ? 'missing' : 'older than lib/'} and ${target} is not writable by uid ${process.getuid()}: run \`npm run build:ts\` as its owner`,
  );
  process.exit(1);
}
const r = spawnSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
