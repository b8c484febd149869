// scripts/prepare.mjs (npm's `prepare`, which `npx sandbox` in a checkout runs): it leaves a current
// dist/ alone, so a user who may not write the checkout is not stopped by tsc, and says in one line
// why it cannot build a stale one. Run on a copy of the script in a scratch project layout.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'prepare.mjs');
const isRoot = process.getuid?.() === 0;

/** A checkout with lib/, bench/, tsconfig.json and a built dist/, all dated `libTime`/`distTime`. */
function checkout(libTime: number, distTime: number): string {
  const root = mkdtempSync(join(tmpdir(), 'prepare-test-'));
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(script, join(root, 'scripts', 'prepare.mjs'));
  for (const dir of ['lib', 'bench', 'dist/lib']) mkdirSync(join(root, dir), { recursive: true });
  const sources = ['lib/index.ts', 'bench/run.ts', 'tsconfig.json'];
  const outputs = ['dist/lib/index.js', 'dist/lib/sandbox-cli.bundle.cjs', 'dist/lib/sandbox-cli.cjs'];
  for (const f of [...sources, ...outputs]) writeFileSync(join(root, f), '');
  for (const f of sources) utimesSync(join(root, f), libTime, libTime);
  for (const f of outputs) utimesSync(join(root, f), distTime, distTime);
  return root;
}

/** Runs the copy as an ordinary user who does not own the checkout (uid 65534 when we are root). */
function prepareAsOther(root: string): { status: number | null; stdout: string; stderr: string } {
  const argv = isRoot
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(root, 'scripts', 'prepare.mjs')]
    : [process.execPath, join(root, 'scripts', 'prepare.mjs')];
  if (!isRoot) chmodSync(join(root, 'dist'), 0o555);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, PATH: process.env.PATH ?? '' } });
  if (!isRoot) chmodSync(join(root, 'dist'), 0o755);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a dist/ newer than every source is used as it is, by a user who may not write it', (t) => {
  const root = checkout(1_000_000, 2_000_000);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const r = prepareAsOther(root);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /nothing to build/);
});

test('a stale dist/ that the user may not write: one line saying why and what to run, exit 1', (t) => {
  const root = checkout(2_000_000, 1_000_000);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  if (isRoot) chownSync(root, 0, 0);
  const r = prepareAsOther(root);
  t.is(r.status, 1);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /^prepare: dist\/ is older than lib\/ and .*dist is not writable by uid \d+: run `npm run build:ts` as its owner$/m);
});
