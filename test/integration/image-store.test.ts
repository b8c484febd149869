// The image store with real archives (podman save, skopeo copy, GNU tar): every import format, a
// layer shared by two images stored once, ls/inspect/rm/prune, the CLI's outputs and exit 125, and
// bad input leaving the store exactly as it was. Runs as root and, through run-rootless, as nobody.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Header } from 'tar';
import {
  SandboxError,
  flattenImage,
  importImage,
  inspectImage,
  listImages,
  pruneImages,
  removeImage,
  resolveImage,
} from '../../lib/index.js';
import { storedOwner } from '../../lib/image/owners.js';
import { missing, podmanFixtures, snapshot, type Fixtures } from '../helpers/images.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'dist/lib/sandbox-cli.cjs');

const skip = missing(['podman', 'skopeo', 'busybox']);
const built = skip === null ? podmanFixtures() : skip;
const fx: Fixtures | null = typeof built === 'string' ? null : built;
const reason = typeof built === 'string' ? built : null;
const t = fx ? test : test.skip;
if (reason) console.log(`image-store: skipped: ${reason}`);

function store(): string {
  return mkdtempSync(join(tmpdir(), 'img-store-'));
}

function sandbox(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t('every format imports to the same image; the layer is stored once', async (t) => {
  const s = store();
  const a = await importImage(fx!.dockerArchive, { store: s });
  t.is(a.format, 'docker-archive');
  t.true(a.names[0]!.startsWith('localhost/sandbox-fixture-'));
  const b = await importImage(fx!.ociArchive, { store: s, name: 'bb:oci' });
  t.is(b.format, 'oci-archive');
  const c = await importImage(fx!.ociLayout, { store: s, name: 'bb' });
  t.is(c.format, 'oci-layout');
  t.deepEqual(c.names, ['docker.io/library/bb:v1'], 'a layout tagged v1 names NAME:v1');
  t.is(a.id, b.id);
  t.is(a.id, c.id);
  t.is(b.layersShared, 1);
  t.is(readdirSync(join(s, 'layers')).length, 1);
  const img = resolveImage('bb:oci', { store: s });
  t.is(img.ref, 'docker.io/library/bb:oci');
  t.is(img.layers.length, 1);
  t.is(readFileSync(join(img.layers[0]!, 'etc/greeting'), 'utf8'), 'hello from the image\n');
  t.true(lstatSync(join(img.layers[0]!, 'bin/sh')).isSymbolicLink());
  t.deepEqual(img.config.env, ['PATH=/bin:/usr/bin', 'GREETING=hi']);
  t.is(img.config.workingDir, '/etc');
  t.deepEqual(img.config.cmd, ['/bin/cat', '/etc/greeting']);
  t.is(img.platform, 'linux/amd64');
  t.is(img.flat, null);
  rmSync(s, { recursive: true, force: true });
});

t('a child image shares its parent layer; whiteouts are overlay whiteouts; flatten applies them', async (t) => {
  const s = store();
  await importImage(fx!.dockerArchive, { store: s });
  const child = await importImage(fx!.childDockerArchive, { store: s, name: 'child' });
  t.is(child.layers, 2);
  t.is(child.layersShared, 1, 'the base layer is not extracted again');
  t.is(readdirSync(join(s, 'layers')).length, 2);
  const img = resolveImage('child', { store: s });
  const wh = lstatSync(join(img.layers[1]!, 'etc/greeting'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  const flat = await flattenImage('child', { store: s });
  t.false(existsSync(join(flat, 'etc/greeting')));
  t.is(readFileSync(join(flat, 'etc/child'), 'utf8'), 'child\n');
  t.true(existsSync(join(flat, 'bin/busybox')));
  t.is(resolveImage('child', { store: s }).flat, flat);
  t.is(await flattenImage('child', { store: s }), flat, 'made once');
  rmSync(s, { recursive: true, force: true });
});

t('plain rootfs tars: none, gzip, zstd; NAME is required', async (t) => {
  const s = store();
  const dir = mkdtempSync(join(tmpdir(), 'img-tars-'));
  const gz = join(dir, 'r.tar.gz');
  const zst = join(dir, 'r.tar.zst');
  execFileSync('sh', ['-c', `gzip -c < '${fx!.rootfsTar}' > '${gz}' && zstd -q -c < '${fx!.rootfsTar}' > '${zst}'`]);
  const err = await t.throwsAsync(importImage(fx!.rootfsTar, { store: s }), { instanceOf: SandboxError });
  t.is(err!.stage, 'image');
  t.regex(err!.message, /names no image: give NAME/);
  const plain = await importImage(fx!.rootfsTar, { store: s, name: 'r:plain' });
  const g = await importImage(gz, { store: s, name: 'r:gz' });
  const z = await importImage(zst, { store: s, name: 'r:zst' });
  t.is(plain.format, 'rootfs');
  t.is(plain.id, g.id, 'the same content gives the same image, whatever the compression');
  t.is(plain.id, z.id);
  t.is(readdirSync(join(s, 'layers')).length, 1);
  const img = resolveImage('r:zst', { store: s });
  t.is(readFileSync(join(img.layers[0]!, 'etc/greeting'), 'utf8'), 'hello from the image\n');
  t.true(img.config.env[0]!.startsWith('PATH='));
  rmSync(s, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

t('ls, inspect, rm and prune', async (t) => {
  const s = store();
  await importImage(fx!.dockerArchive, { store: s, name: 'one' });
  await importImage(fx!.childDockerArchive, { store: s, name: 'two' });
  await importImage(fx!.ociLayout, { store: s, name: 'three:x' });
  const ls = listImages({ store: s });
  t.deepEqual(
    ls.map((r) => r.familiarName),
    ['one:latest', 'three:x', 'two:latest'],
  );
  t.true(ls.every((r) => r.size > 1_000_000));
  const d = inspectImage('one', { store: s });
  t.deepEqual(d.names, ['docker.io/library/one:latest', 'docker.io/library/three:x']);
  t.is(inspectImage(d.id.slice(7, 19), { store: s }).id, d.id, 'a short id finds it');
  const r1 = await removeImage('two', { store: s });
  t.deepEqual(r1.untagged, ['docker.io/library/two:latest']);
  t.is(r1.layersRemoved, 1, 'the child layer goes, the shared base stays');
  t.is(readdirSync(join(s, 'layers')).length, 1);
  await removeImage(['one'], { store: s });
  t.is(readdirSync(join(s, 'layers')).length, 1, 'three:x still holds the base');
  const gone = await t.throwsAsync(removeImage('one', { store: s }), { instanceOf: SandboxError });
  t.regex(gone!.message, /image "one": not in the image store/);
  await removeImage('three:x', { store: s });
  t.is(readdirSync(join(s, 'layers')).length, 0);
  t.deepEqual(listImages({ store: s }), []);
  const pr = await pruneImages({ store: s });
  t.is(pr.layersRemoved, 0);
  const e = t.throws(() => resolveImage('one', { store: s }), { instanceOf: SandboxError });
  t.is(e!.stage, 'image');
  t.regex(e!.message, /^image "one": not in the image store/);
  rmSync(s, { recursive: true, force: true });
});

t('bad input: unknown, truncated, corrupt, digest mismatch → a SandboxError, the store unchanged', async (t) => {
  const s = store();
  const dir = mkdtempSync(join(tmpdir(), 'img-bad-'));
  // The store holds an image that shares no layer with the inputs (a shared layer is not read again).
  execFileSync('sh', ['-c', `mkdir '${dir}/k' && echo keep > '${dir}/k/keep' && tar -C '${dir}/k' -cf '${dir}/keep.tar' .`]);
  await importImage(join(dir, 'keep.tar'), { store: s, name: 'keep' });
  const before = snapshot(s);
  const cases: [string, RegExp][] = [];
  writeFileSync(join(dir, 'unknown'), 'this is not an archive at all\n'.repeat(40));
  cases.push([join(dir, 'unknown'), /unknown format/]);
  copyFileSync(fx!.rootfsTar, join(dir, 'truncated.tar'));
  truncateSync(join(dir, 'truncated.tar'), Math.floor(statSync(fx!.rootfsTar).size / 2) + 100);
  cases.push([join(dir, 'truncated.tar'), /truncated|tar/i]);
  execFileSync('sh', ['-c', `gzip -c < '${fx!.rootfsTar}' | head -c 300000 > '${dir}/truncated.tar.gz'`]);
  cases.push([join(dir, 'truncated.tar.gz'), /unexpected end|truncated|corrupt/i]);
  const gz = readFileSync(join(dir, 'truncated.tar.gz'));
  gz.fill(0x55, 5000, 9000);
  writeFileSync(join(dir, 'corrupt.tar.gz'), gz);
  cases.push([join(dir, 'corrupt.tar.gz'), /corrupt|invalid|unexpected/i]);
  // An OCI layout whose layer blob was altered: its digest no longer matches.
  const layout = join(dir, 'layout');
  execFileSync('cp', ['-r', fx!.ociLayout, layout]);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const blob = join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7));
  const data = readFileSync(blob);
  data[data.length - 10] ^= 0xff;
  execFileSync('chmod', ['u+w', blob]);
  writeFileSync(blob, data);
  cases.push([layout, /digest mismatch|corrupt/]);
  cases.push([join(dir, 'absent.tar'), /cannot read/]);
  for (const [file, re] of cases) {
    const e = await t.throwsAsync(importImage(file, { store: s, name: 'bad' }), { instanceOf: SandboxError }, file);
    t.is(e!.stage, 'image');
    t.regex(e!.message, /^image "bad": \w+: /, file);
    t.regex(e!.message, re, file);
    t.is(snapshot(s), before, `the store is unchanged after ${file}`);
  }
  t.false(listImages({ store: s }).some((r) => r.familiarName === 'bad:latest'));
  rmSync(dir, { recursive: true, force: true });
  rmSync(s, { recursive: true, force: true });
});

t('CLI: results on stdout, one line and exit 125 on failure', (t) => {
  const s = store();
  const env = { SANDBOX_STORE: s };
  const imp = sandbox(['image', 'import', fx!.dockerArchive, 'cli:1'], env);
  t.is(imp.status, 0, imp.stderr);
  t.regex(imp.stdout, /^docker\.io\/library\/cli:1 sha256:[a-f0-9]{64}\n$/);
  t.is(imp.stderr, '', 'no progress when stderr is not a terminal');
  const ls = sandbox(['image', 'ls'], env);
  t.regex(ls.stdout, /^NAME +ID +SIZE +CREATED +PLATFORM\ncli:1 +[a-f0-9]{12} +2\.\d MB/);
  const json = JSON.parse(sandbox(['image', 'ls', '--json'], env).stdout);
  t.is(json[0].name, 'docker.io/library/cli:1');
  const insp = JSON.parse(sandbox(['image', 'inspect', 'cli:1', '--json'], env).stdout);
  t.deepEqual(insp.config.cmd, ['/bin/cat', '/etc/greeting']);
  const bad = sandbox(['image', 'import', '/etc/hostname', 'x'], env);
  t.is(bad.status, 125);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /^sandbox: image "x": read: unknown format: .*\n$/);
  const absent = sandbox(['image', 'inspect', 'nope'], env);
  t.is(absent.status, 125);
  t.regex(absent.stderr, /^sandbox: image "nope": not in the image store/);
  t.is(sandbox(['image', 'frob'], env).status, 125);
  const rm = sandbox(['image', 'rm', 'cli:1'], env);
  t.is(rm.status, 0);
  t.regex(rm.stdout, /^untagged docker\.io\/library\/cli:1\ndeleted sha256:/);
  rmSync(s, { recursive: true, force: true });
});

t('an import killed midway leaves no image and nothing visible; prune removes its leftovers', async (t) => {
  const s = store();
  const dir = mkdtempSync(join(tmpdir(), 'img-big-'));
  // A rootfs tar of many small files: extraction takes seconds (a syscall round per file), long
  // enough to be caught midway.
  const big = join(dir, 'big.tar');
  const blocks: Buffer[] = [];
  for (let i = 0; i < 40000; i++) {
    const h = Buffer.alloc(512);
    new Header({ path: `d${i % 40}/f${i}`, type: 'File', size: 1, mode: 0o644, mtime: new Date(0) }).encode(h, 0);
    blocks.push(h, Buffer.alloc(512, 0x78));
  }
  blocks.push(Buffer.alloc(1024));
  writeFileSync(big, Buffer.concat(blocks));
  await importImage(fx!.dockerArchive, { store: s, name: 'keep' });
  const before = snapshot(s);
  const child = spawn(process.execPath, [cli, 'image', 'import', big, 'big'], {
    env: { ...process.env, SANDBOX_STORE: s },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  // Kill it once its staging directory holds part of the layer.
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  for (let i = 0; i < 3000 && !exitedEarly; i++) {
    await new Promise((r) => setTimeout(r, 2));
    const staged = existsSync(join(s, 'tmp')) ? readdirSync(join(s, 'tmp')).filter((n) => n.startsWith(`${child.pid}-add-`)) : [];
    if (staged.length > 0 && existsSync(join(s, 'tmp', staged[0]!, 'layer-0'))) break;
  }
  t.is(child.exitCode, null, `still importing when killed (${stderr})`);
  child.kill('SIGKILL');
  await exited;
  t.throws(() => resolveImage('big', { store: s }), { instanceOf: SandboxError });
  t.deepEqual(
    listImages({ store: s }).map((r) => r.familiarName),
    ['keep:latest'],
  );
  const pr = await pruneImages({ store: s });
  t.true(pr.stagingRemoved >= 1, 'the killed import left a staging directory, now removed');
  t.is(snapshot(s), before);
  rmSync(dir, { recursive: true, force: true });
  rmSync(s, { recursive: true, force: true });
});

t('progress is drawn on a terminal, and --quiet silences it', (t) => {
  const s = store();
  const env = { ...process.env, SANDBOX_STORE: s };
  // script(1) gives the command a terminal; its transcript is what the terminal showed.
  const run = (extra: string): string =>
    spawnSync(
      'script',
      ['-qec', `'${process.execPath}' '${cli}' image import ${extra} '${fx!.dockerArchive}' tty:1 >/dev/null`, '/dev/null'],
      { env, encoding: 'utf8' },
    ).stdout;
  const shown = run('');
  t.regex(shown, /importing .*\[[#.]+\] .*(layers|committing)/);
  t.regex(shown, /B\/s/);
  t.is(run('--quiet').trim(), '');
  rmSync(s, { recursive: true, force: true });
});

test("owners: as root, shifted into the foreign range (0 → its base, beyond 65535 → its nobody); rootless, the caller's", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'img-owners-'));
  const src = join(dir, 'src');
  for (const d of ['home/app', 'big']) execFileSync('mkdir', ['-p', join(src, d)]);
  writeFileSync(join(src, 'rootfile'), 'r\n');
  writeFileSync(join(src, 'home/app/f'), 'a\n');
  writeFileSync(join(src, 'big/f'), 'b\n');
  const tar = join(dir, 'owners.tar');
  const add = (owner: number, names: string[]) =>
    execFileSync('tar', ['-C', src, '--numeric-owner', `--owner=${owner}`, `--group=${owner}`, '--no-recursion', '-rf', tar, ...names]);
  add(0, ['.', 'rootfile', 'home']);
  add(1234, ['home/app', 'home/app/f']);
  add(70000, ['big', 'big/f']);
  const s = store();
  await importImage(tar, { store: s, name: 'owners:1' });
  const layer = resolveImage('owners:1', { store: s }).layers[0]!;
  const owner = (p: string) => {
    const st = lstatSync(join(layer, p));
    return [st.uid, st.gid];
  };
  const me = process.getuid!();
  const expect = (id: number) => (me === 0 ? [storedOwner(id), storedOwner(id)] : [me, process.getgid!()]);
  t.deepEqual(owner(''), expect(0));
  t.deepEqual(owner('rootfile'), expect(0));
  t.deepEqual(owner('home/app/f'), expect(1234));
  t.deepEqual(owner('big/f'), expect(65534));
  if (me === 0) t.is(storedOwner(0), 0x7ffe0000);
  const { removeTree } = await import('../../lib/image/fsutil.js');
  removeTree(s);
  rmSync(dir, { recursive: true, force: true });
});

const asRoot = process.getuid?.() === 0 && fx !== null;
(asRoot ? test : test.skip)('a full disk during extraction: one line, exit 125, the store unchanged (root: a small tmpfs)', (t) => {
  // The tmpfs lives in a mount namespace of its own (unshare -m): it goes away with the command.
  const script = `mount -t tmpfs -o size=1200k tmpfs "$SANDBOX_STORE" || exit 9
'${process.execPath}' '${cli}' image import '${fx!.dockerArchive}' big:1 2>"$SANDBOX_STORE/../err"
echo "status $?" >"$SANDBOX_STORE/../status"
find "$SANDBOX_STORE" -mindepth 1 -printf '%P %y\\n' | sort >"$SANDBOX_STORE/../after"`;
  const dir = mkdtempSync(join(tmpdir(), 'img-full-'));
  const storeDir = join(dir, 'store');
  execFileSync('mkdir', [storeDir]);
  const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { env: { ...process.env, SANDBOX_STORE: storeDir }, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(readFileSync(join(dir, 'status'), 'utf8').trim(), 'status 125');
  t.regex(readFileSync(join(dir, 'err'), 'utf8'), /^sandbox: image "big:1": layers: no space left on the device.*\n$/);
  const after = readFileSync(join(dir, 'after'), 'utf8');
  t.notRegex(after, /^(layers|tmp|images)\/\S/m, 'no layer, staging or image left');
  t.notRegex(after, /^refs\.json/m, 'no name');
  rmSync(dir, { recursive: true, force: true });
});

const pythonTar = (() => {
  const r = spawnSync('bash', [join(root, 'test/helpers/python-image.sh'), '--cached'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();
if (pythonTar === null && process.env.CI === 'true' && process.getuid?.() === 0)
  throw new Error('CI: the Python image is missing (.ci/run builds it with test/helpers/python-image.sh)');
(pythonTar ? test : test.skip)('the Python image (debootstrap minbase + python3-minimal) imports', async (t) => {
  const s = store();
  const r = await importImage(pythonTar!, { store: s, name: 'py' });
  t.is(r.format, 'rootfs');
  const img = resolveImage('py', { store: s });
  const py = lstatSync(join(img.layers[0]!, 'usr/bin/python3'));
  t.true(py.isSymbolicLink() || py.isFile());
  t.true(existsSync(join(img.layers[0]!, 'usr/lib/python3.11')));
  const { removeTree } = await import('../../lib/image/fsutil.js');
  removeTree(s);
});

t(
  'layers are overlay lowerdirs as they are: whiteouts and opaque directories, read by an overlay mounted with userxattr in a user namespace',
  async (t) => {
    const s = store();
    const dir = mkdtempSync(join(tmpdir(), 'img-ovl-'));
    execFileSync('sh', [
      '-c',
      `mkdir -p '${dir}/o/opt' && : > '${dir}/o/opt/.wh..wh..opq' && echo new > '${dir}/o/opt/new' && tar -C '${dir}/o' -cf '${dir}/o.tar' .`,
    ]);
    await importImage(fx!.childDockerArchive, { store: s, name: 'child' });
    await importImage(join(dir, 'o.tar'), { store: s, name: 'opq' });
    const lower = [resolveImage('opq', { store: s }).layers[0]!, ...resolveImage('child', { store: s }).layers.slice().reverse()].join(':');
    execFileSync('mkdir', [join(dir, 'm')]);
    const r = spawnSync(
      'unshare',
      [
        '-Urm',
        'sh',
        '-c',
        `mount -t overlay overlay -o 'lowerdir=${lower},userxattr' '${dir}/m' && ls '${dir}/m/etc' && echo -- && ls '${dir}/m/opt' && cat '${dir}/m/etc/child'`,
      ],
      { encoding: 'utf8' },
    );
    t.is(r.status, 0, r.stderr);
    const [etc, opt] = r.stdout.split('--\n');
    t.notRegex(etc!, /^greeting$/m, "the whiteout hides the base layer's file");
    t.regex(etc!, /^passwd$/m);
    t.is(opt, 'new\nchild\n', 'the opaque /opt shows only its own layer; etc/child is readable');
    rmSync(dir, { recursive: true, force: true });
    rmSync(s, { recursive: true, force: true });
  },
);
