// The CLI's image side, end to end: `sandbox exec --image`, `sandbox run IMAGE`, `--rootfs DIR
// --writable`, and, when the store is in this build (lib/image/index.ts), import then run through
// the store. Runs dist/lib/sandbox-cli.cjs (npm test builds first), else lib/cli/main.ts via tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Sandbox } from '../../lib/index.js';
import { BUSYBOX, baseLayer } from '../helpers/image-layers.js';
import { scratchDir, text } from '../helpers/host.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = join(root, 'dist/lib/sandbox-cli.cjs');
const cliArgv = existsSync(built) ? [built] : ['--import', 'tsx', join(root, 'lib/cli/main.ts')];
const scratch = scratchDir('image-cli');
test.after.always(() => scratch.remove());
const store = join(scratch.path, 'store');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [...cliArgv, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, SANDBOX_STORE: store },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

if (BUSYBOX === null && process.env.CI === 'true') throw new Error('busybox-static is required in CI (.ci/run installs it)');
const maybe = BUSYBOX !== null ? test : test.skip;
if (BUSYBOX === null) test.skip('image runs need busybox-static (apt-get install busybox-static)', () => {});

test('an image that cannot be had: exit 125 and one line naming it', (t) => {
  for (const args of [
    ['exec', '--image', 'localhost/absent:1', '--', 'true'],
    ['run', 'localhost/absent:1'],
  ]) {
    const r = cli(args);
    t.is(r.status, 125, r.stderr);
    t.regex(r.stderr, /^sandbox: image "localhost\/absent:1"[^\n]*\n$/);
    t.is(r.stdout, '');
  }
});

maybe("--rootfs DIR --writable: a layer of the run's own over the directory, which never changes", (t) => {
  const dir = join(scratch.path, 'rootfs');
  baseLayer(dir);
  const before = readdirSync(dir).sort();
  const r = cli([
    'exec',
    '--rootfs',
    dir,
    '--writable',
    '--writable-size',
    '8m',
    '--',
    '/bin/sh',
    '-c',
    'echo hi > /new && cat /new && df -k / | tail -1',
  ]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^hi\noverlay\s+8192\s/);
  t.deepEqual(readdirSync(dir).sort(), before);
  const ro = cli(['exec', '--rootfs', dir, '--', '/bin/sh', '-c', 'touch /new 2>&1; true']);
  t.is(ro.stdout, 'touch: /new: Read-only file system\n');
});

// Through the store: registered when the store is part of this build.
const storeIndex = join(root, 'lib/image/index.ts');
const haveStore = existsSync(storeIndex) && readFileSync(storeIndex, 'utf8').includes('resolveImage');
(haveStore && BUSYBOX !== null ? test : test.skip)(
  haveStore
    ? 'import a rootfs tar, then run it by name: CLI and API'
    : 'import then run by name (skipped: lib/image/index.ts, the store, is not in this build)',
  async (t) => {
    const dir = join(scratch.path, 'e2e-root');
    baseLayer(dir);
    const tar = join(scratch.path, 'e2e.tar');
    t.is(spawnSync('tar', ['-C', dir, '-cf', tar, '.']).status, 0);
    const imported = cli(['image', 'import', '--quiet', tar, 'localhost/e2e:1']);
    t.is(imported.status, 0, imported.stderr);
    const r = cli(['run', '-e', 'X=from-cli', 'localhost/e2e:1', 'sh', '-c', 'echo $X $(id -u); touch /x 2>&1; true']);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, 'from-cli 0\ntouch: /x: Read-only file system\n');
    const w = cli(['exec', '--image', 'localhost/e2e:1', '--writable', '--', 'sh', '-c', 'echo w > /x && cat /x']);
    t.is(w.stdout, 'w\n', w.stderr);
    process.env.SANDBOX_STORE = store;
    const api = await new Sandbox({ image: 'localhost/e2e:1' }).run(['echo', 'api']);
    t.is(text(api.stdout), 'api\n');
  },
);
