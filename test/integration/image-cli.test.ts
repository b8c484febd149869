// The CLI's image side, end to end: `sandbox exec --image`, `sandbox run IMAGE`, `--rootfs DIR
// --writable`, and, when the store is in this build (lib/image/index.ts), import then run through
// the store. Runs dist/lib/sandbox-cli.cjs (npm test builds first), else lib/cli/main.ts via tsx.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Sandbox, SandboxError } from '../../lib/index.js';
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
    t.is(spawnSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']).status, 0);
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

(haveStore && BUSYBOX !== null ? test : test.skip)(
  '--rootfs FILE: the archive is imported (nameless) and run as its image; the API refuses a file with one line',
  async (t) => {
    const dir = join(scratch.path, 'tar-root');
    baseLayer(dir);
    // Content of this test's own: another test's base layer, tarred in the same second, is the
    // same image, which that test names.
    writeFileSync(join(dir, 'etc/rootfs-file-test'), `${process.pid} ${Date.now()}\n`);
    const tar = join(scratch.path, 'rootfs.tar');
    t.is(spawnSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']).status, 0);
    const r = cli(['exec', '--rootfs', tar, '--', 'sh', '-c', 'id -u; touch /x 2>&1; true']);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, '0\ntouch: /x: Read-only file system\n');
    t.is(r.stderr, '', 'no progress when stderr is not a terminal');
    // The image's root owns its files: a writable root lets it change them (as root and rootless).
    const w = cli([
      'exec',
      '--rootfs',
      tar,
      '--writable',
      '--',
      'sh',
      '-c',
      'echo "extra:x:7:7::/:/bin/sh" >> /etc/passwd && tail -n1 /etc/passwd',
    ]);
    t.is(w.stdout, 'extra:x:7:7::/:/bin/sh\n', w.stderr);
    const ls = cli(['image', 'ls', '--json']);
    t.is(ls.status, 0, ls.stderr);
    const nameless = (JSON.parse(ls.stdout) as { name: string | null; id: string }[]).filter((i) => i.name === null).map((i) => i.id);
    const named = cli(['image', 'import', '--quiet', tar, 'localhost/same:1']);
    t.true(nameless.includes(named.stdout.trim().split(' ')[1]!), 'the run imported the image an import makes, without a name');
    for (const bad of [join(root, 'package.json'), join(scratch.path, 'absent.tar')]) {
      const b = cli(['exec', '--rootfs', bad, '--', 'true']);
      t.is(b.status, 125);
      t.regex(b.stderr, /^sandbox: (image "[^"]+": read: unknown format|rootfs \S+ does not exist)[^\n]*\n$/);
    }
    const e = t.throws(() => new Sandbox({ rootfs: tar }), { instanceOf: SandboxError });
    t.is(e?.stage, 'options');
    t.regex(e?.message ?? '', /is a file, not a directory: import it as an image/);
  },
);

(haveStore && BUSYBOX !== null && process.getuid?.() === 0 ? test : test.skip)(
  'root, an image and a rw bind its user cannot write: the hint names the foreign range and -u' +
    (process.getuid?.() === 0 ? '' : ' (skipped: root chooses host ids)'),
  (t) => {
    const dir = join(scratch.path, 'hint-root');
    baseLayer(dir);
    const tar = join(scratch.path, 'hint.tar');
    t.is(spawnSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']).status, 0);
    const data = join(scratch.path, 'hint-data');
    mkdirSync(data, { mode: 0o755 });
    const r = cli(['exec', '--rootfs', tar, '-v', `${data}:/data:rw`, '--', 'sh', '-c', 'echo x > /data/f']);
    t.not(r.status, 0);
    t.regex(
      r.stderr,
      /^sandbox: hint: .* is owned by 0:0 with mode 755, and an image's user writes as host id 2147352576 \+ its uid inside .*; the sandbox never maps to host root: .*-u UID:GID$/m,
    );
    chownSync(data, 4242, 4243);
    const other = cli(['exec', '--rootfs', tar, '-v', `${data}:/data:rw`, '--', 'sh', '-c', 'echo x > /data/f']);
    t.regex(other.stderr, /^sandbox: hint: .* is owned by 4242:4243 with mode 755, .*; run with -u 4242:4243 to write as its owner$/m);
    const as = cli([
      'exec',
      '--rootfs',
      tar,
      '-u',
      '4242:4243',
      '-v',
      `${data}:/data:rw`,
      '--',
      'sh',
      '-c',
      'echo x > /data/f && cat /data/f',
    ]);
    t.is(as.stdout, 'x\n', as.stderr);
  },
);

// The Python image of issue "Images" (test/helpers/python-image.sh: debootstrap minbase +
// python3-minimal, cached; .ci/run builds it), as a user would take it: import, run, limits.
const pythonTar = (() => {
  // A guest is handed the host's (test/vm/run.sh).
  if (process.env.SANDBOX_PYTHON_IMAGE) return existsSync(process.env.SANDBOX_PYTHON_IMAGE) ? process.env.SANDBOX_PYTHON_IMAGE : null;
  const r = spawnSync('bash', [join(root, 'test/helpers/python-image.sh'), '--cached'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();
// A guest gets it from the host's cache when the host has built it (test/vm/run.sh); the host's
// CI builds it before its tests.
if (pythonTar === null && process.env.CI === 'true' && process.getuid?.() === 0 && process.env.VM_GUEST !== '1')
  throw new Error('CI: the Python image is missing (.ci/run builds it with test/helpers/python-image.sh)');
(haveStore && pythonTar !== null ? test : test.skip)(
  'the Python image: import, print(42); under -m 256m --cpus 0.5 the verdicts of the default root; --writable changes its files' +
    (pythonTar === null ? ' (skipped: the Python image is not built: bash test/helpers/python-image.sh as root)' : ''),
  async (t) => {
    const imported = cli(['image', 'import', '--quiet', pythonTar!, 'localhost/py:3']);
    t.is(imported.status, 0, imported.stderr);
    const r = cli(['exec', '--image', 'localhost/py:3', '--', 'python3', '-c', 'print(42)']);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, '42\n');
    const w = cli([
      'exec',
      '--image',
      'localhost/py:3',
      '--writable',
      '--',
      'sh',
      '-c',
      'echo changed >> /etc/debian_version && tail -n1 /etc/debian_version',
    ]);
    t.is(w.stdout, 'changed\n', w.stderr);
    process.env.SANDBOX_STORE = store;
    const limits = { memory: '256m', cpuQuota: 0.5 };
    const programs: [string, string[]][] = [
      ['memory', ['python3', '-c', 'b = bytearray(512 << 20); print(len(b))']],
      ['cpu time', ['python3', '-c', 'while True: pass']],
      ['ok', ['python3', '-c', 'import sys; print(sys.version_info[0])']],
    ];
    for (const [what, argv] of programs) {
      const extra = what === 'cpu time' ? { timeLimit: 1 } : {};
      const host = await new Sandbox({ ...limits, ...extra }).run(argv);
      const image = await new Sandbox({ ...limits, ...extra, image: 'localhost/py:3' }).run(argv);
      t.is(image.outcome, host.outcome, `${what}: ${text(host.stderr)} / ${text(image.stderr)}`);
      t.is(image.enforcement, host.enforcement, what);
      t.deepEqual(image.limits, host.limits, what);
    }
  },
);
