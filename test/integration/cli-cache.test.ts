// The `sandbox` bin's V8 code cache (lib/cli/bin.ts): made when missing, used when it names this
// bundle, this Node and this architecture, ignored and remade otherwise, and never needed: a
// directory the caller cannot write still runs, with nothing left behind. Each test works on its own
// copy of the built bin (dist/lib of a scratch package whose build/ is the real one).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = join(root, 'dist/lib');
const scratch = mkdtempSync(join(tmpdir(), 'sandbox-cli-cache-'));
chmodSync(scratch, 0o755);
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A package with the built bin and bundle, no cache, and the real package's addon. */
function packageCopy(): { lib: string; cache: string; bin: string } {
  const pkg = join(scratch, `p${copies++}`);
  const lib = join(pkg, 'dist/lib');
  mkdirSync(lib, { recursive: true });
  for (const f of ['sandbox-cli.cjs', 'sandbox-cli.bundle.cjs']) copyFileSync(join(built, f), join(lib, f));
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  // The addon where the real package has it: its build, its prebuilds, and node-gyp-build to choose
  // (an arm64 guest testing an x64 host's tree loads the arm64 prebuild).
  for (const d of ['build', 'prebuilds', 'node_modules']) if (existsSync(join(root, d))) symlinkSync(join(root, d), join(pkg, d));
  chmodSync(pkg, 0o755);
  return { lib, cache: join(lib, 'sandbox-cli.bundle.cache'), bin: join(lib, 'sandbox-cli.cjs') };
}

const isRoot = process.getuid?.() === 0;

function sandboxExec(bin: string, unprivileged = false): { status: number | null; stdout: string; stderr: string } {
  const argv = [process.execPath, bin, 'exec', '--', '/bin/sh', '-c', 'echo ran'];
  // Root writes anywhere: the read-only case runs as nobody then (rootless npm test is nobody already).
  const r =
    unprivileged && isRoot
      ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], { encoding: 'utf8', timeout: 60_000 })
      : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const expectedHeader = (lib: string): string =>
  `${readFileSync(join(lib, 'sandbox-cli.bundle.cjs'), 'utf8').split('\n')[0]} ${process.version} ${process.arch}\n`;

test.before(() => {
  if (!existsSync(join(built, 'sandbox-cli.bundle.cjs'))) throw new Error('run `npm run build` first (npm test does)');
});

test('the build seals the bundle with an id and ships a cache for it', (t) => {
  const first = readFileSync(join(built, 'sandbox-cli.bundle.cjs'), 'utf8').split('\n')[0]!;
  t.regex(first, /^\/\/ sandbox-cli [0-9a-f]{32}$/);
  const cache = readFileSync(join(built, 'sandbox-cli.bundle.cache'));
  // Made by the Node that built it: the same bundle, that Node's version and architecture (an arm64
  // guest testing an x64 host's build sees the host's; the tests below make one for this Node).
  const header = cache.subarray(0, cache.indexOf(10) + 1).toString();
  t.regex(header, /^\/\/ sandbox-cli [0-9a-f]{32} v\d+\.\d+\.\d+ \w+\n$/);
  t.true(header.startsWith(`${first} `), header);
  t.true(cache.length > 10_000, `a cache of ${cache.length} bytes`);
});

test('a missing cache is made at exit; a matching one is used and left as it is', (t) => {
  const { lib, cache, bin } = packageCopy();
  const first = sandboxExec(bin);
  t.is(first.status, 0, first.stderr);
  t.is(first.stdout, 'ran\n');
  const made = readFileSync(cache);
  t.is(made.subarray(0, made.indexOf(10) + 1).toString(), expectedHeader(lib));
  const before = statSync(cache);
  const second = sandboxExec(bin);
  t.is(second.status, 0, second.stderr);
  t.is(second.stdout, 'ran\n');
  const after = statSync(cache);
  // Accepted by V8: not rewritten (a rejected or foreign cache is replaced at exit).
  t.is(after.ino, before.ino);
  t.is(after.mtimeMs, before.mtimeMs);
});

test('a cache made for another bundle is not used and is replaced', (t) => {
  const { lib, cache, bin } = packageCopy();
  t.is(sandboxExec(bin).status, 0);
  const real = readFileSync(cache);
  const header = real.subarray(0, real.indexOf(10) + 1).toString();
  const foreign = header.replace(/sandbox-cli [0-9a-f]{32}/, `sandbox-cli ${'0'.repeat(32)}`);
  t.not(foreign, header);
  // The other bundle's bytecode would be garbage for this one: V8 must never see it.
  writeFileSync(cache, Buffer.concat([Buffer.from(foreign), Buffer.alloc(real.length - header.length, 0xa5)]));
  const r = sandboxExec(bin);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'ran\n');
  const now = readFileSync(cache);
  t.is(now.subarray(0, now.indexOf(10) + 1).toString(), expectedHeader(lib));
});

test('a directory the caller cannot write: runs without a cache and leaves nothing', (t) => {
  const { lib, cache, bin } = packageCopy();
  chmodSync(lib, 0o555);
  t.teardown(() => chmodSync(lib, 0o755)); // or the scratch directory cannot be removed
  const r = sandboxExec(bin, true);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'ran\n');
  t.false(existsSync(cache));
  t.deepEqual(readdirSync(lib).sort(), ['sandbox-cli.bundle.cjs', 'sandbox-cli.cjs']);
});
