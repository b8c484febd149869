// The plan's mount list (lib/build-plan.ts) without a kernel, for each kind of root: the default
// (the host's view on a tmpfs), a rootfs directory, an image; and what binds, tmpfs mounts,
// --shm-size, the working directory and --writable add. Init executes the list in this order
// (csrc/init/mounts.cc): the root, then proc/dev/tmp, then the caller's mounts, then read-only.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ImageRun } from '../../lib/image/apply.js';
import { MountFlag, MountOp, type NativeMount } from '../../lib/native-plan.js';
import type { SandboxOptions } from '../../lib/options.js';
import { tmpfsData } from '../../lib/tmpfs-caps.js';
import { type ResolvedConfig, resolveOptions } from '../../lib/validate.js';
import { planFor } from '../helpers/plan.js';

// Images run from their flattened trees where overlayfs is refused: decided here without asking
// the kernel (lib/image/overlay.ts), so the list is the same on every machine.
process.env.SANDBOX_IMAGE_OVERLAY = '0';

const scratch = mkdtempSync(join(tmpdir(), 'mount-list-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

const OP_NAMES = Object.fromEntries(Object.entries(MountOp).map(([k, v]) => [v, k]));

/** One op as a line: "bind /src /dst ro,optional" (src and data only where the op has them). */
function line(m: NativeMount): string {
  const flags = [
    m.flags & MountFlag.readOnly ? 'ro' : '',
    m.flags & MountFlag.optional ? 'optional' : '',
    m.flags & MountFlag.dev ? 'dev' : '',
  ]
    .filter(Boolean)
    .join(',');
  return [OP_NAMES[m.op], m.src, m.dst, m.data, flags].filter((x) => x !== '').join(' ');
}

function mounts(cfg: ResolvedConfig): string[] {
  return planFor(cfg).mounts.map(line);
}

const of = (options: SandboxOptions) => mounts(resolveOptions(options));
const TMP = `tmpfs /tmp ${tmpfsData(128 << 20)}`;
const PROC_DEV = ['proc /proc', `dev /dev ${tmpfsData(64 << 20)}`];

/** A directory tree with these entries (a trailing / makes a directory). */
function tree(name: string, entries: string[]): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const e of entries) {
    if (e.endsWith('/')) mkdirSync(join(dir, e), { recursive: true });
    else {
      mkdirSync(join(dir, e, '..'), { recursive: true });
      writeFileSync(join(dir, e), '');
    }
  }
  return dir;
}

test("the default root: a tmpfs with the host's system directories read-only, then proc, dev, tmp, then read-only", (t) => {
  const list = of({});
  t.is(list[0], 'rootTmpfs /');
  t.true(list.includes('bind /usr /usr ro'), "/usr is the host's, read-only");
  t.true(list.includes('bind /etc/ssl /etc/ssl ro,optional'), 'TLS roots when the host has them');
  t.true(
    list.some((l) => l.startsWith('file /etc/passwd ')),
    "passwd is written, not the host's",
  );
  t.false(
    list.some((l) => l.includes('/etc/resolv.conf')),
    'no name service without a network',
  );
  t.deepEqual(list.slice(-4), [...PROC_DEV, TMP, 'remountRo /']);
  t.true(of({ network: 'host' }).includes('bind /etc/resolv.conf /etc/resolv.conf ro,optional'));
});

test('binds and tmpfs mounts come after proc, dev and tmp, in the order given; a working directory is made on the tmpfs root', (t) => {
  const src = tree('bind-src', ['data/']);
  const list = of({
    binds: [
      { src: join(src, 'data'), dst: '/data' },
      { src: join(src, 'data'), dst: '/out', rw: true },
    ],
    tmpfs: [
      { dst: '/scratch', size: '1m' },
      { dst: '/tmp', size: '2m' },
    ],
    shmSize: '8m',
    memory: '4m',
    cwd: '/work',
  });
  const tail = list.slice(list.indexOf('proc /proc'));
  t.deepEqual(tail, [
    'proc /proc',
    `dev /dev ${tmpfsData(4 << 20)}`, // /dev/shm capped by the memory limit
    `tmpfs /scratch ${tmpfsData(1 << 20)}`,
    `tmpfs /tmp ${tmpfsData(2 << 20)}`, // the caller's /tmp replaces the default one
    `bind ${join(src, 'data')} /data ro`,
    `bind ${join(src, 'data')} /out`,
    `tmpfs /dev/shm ${tmpfsData(4 << 20)}`, // --shm-size 8m, capped by --memory 4m
    'dir /work',
    'remountRo /',
  ]);
});

test('a rootfs with every mount point is bound as it is; one without gets an overlay to make them in', (t) => {
  const full = tree('rootfs-full', ['proc/', 'dev/', 'tmp/', 'etc/']);
  t.deepEqual(of({ rootfs: full }), [`rootBind ${full} /`, ...PROC_DEV, TMP, 'remountRo /']);
  const bare = tree('rootfs-bare', ['etc/']);
  t.deepEqual(of({ rootfs: bare }), [`rootOverlay ${bare} /`, ...PROC_DEV, TMP, 'remountRo /']);
  // The working directory is the rootfs's to have: no dir op.
  t.false(of({ rootfs: bare, cwd: '/srv' }).includes('dir /srv'));
  // Its identity files are bound over its own, read-only, when it has them.
  const withPasswd = tree('rootfs-passwd', ['proc/', 'dev/', 'tmp/', 'etc/passwd']);
  const list = of({ rootfs: withPasswd });
  t.is(list[0], `rootBind ${withPasswd} /`);
  t.regex(list[1]!, /^bind \S+ \/etc\/passwd ro$/);
});

test('--writable: the rootfs under a sized tmpfs upper, and no read-only remount', (t) => {
  const full = tree('rootfs-writable', ['proc/', 'dev/', 'tmp/']);
  t.deepEqual(of({ rootfs: full, writable: true, writableSize: '16m' }), [
    `rootOverlay ${full} / mode=0755,size=${16 << 20}`,
    ...PROC_DEV,
    TMP,
  ]);
});

test("an image: one complete layer is bound as it is; else, without overlayfs, its flattened tree's entries on a tmpfs", (t) => {
  const layer = tree('image-layer', ['proc/', 'dev/', 'tmp/', 'etc/', 'bin/']);
  const imageCfg = (layers: string[], flat: string | null, cwd = '/'): ResolvedConfig => {
    const run: ImageRun = {
      image: {
        ref: 'example.test/x:1',
        id: 'sha256:0',
        layers,
        flat,
        config: { env: [], workingDir: null, user: null, entrypoint: null, cmd: ['true'] },
        platform: 'linux/amd64',
      },
      writable: false,
      writableSize: 0,
      entrypoint: [],
      cmd: ['true'],
      uid: 0,
      gid: 0,
    };
    return { ...resolveOptions({}), cwd, imageRun: run };
  };
  t.deepEqual(mounts(imageCfg([layer], null)), [`rootBind ${layer} /`, ...PROC_DEV, TMP, 'remountRo /']);
  // A working directory the image lacks: the layer's entries on a tmpfs root, the directory made.
  t.deepEqual(mounts(imageCfg([layer], null, '/app')), [
    'rootTmpfs /',
    `bind ${join(layer, 'bin')} /bin ro`,
    `bind ${join(layer, 'dev')} /dev ro`,
    `bind ${join(layer, 'etc')} /etc ro`,
    `bind ${join(layer, 'proc')} /proc ro`,
    `bind ${join(layer, 'tmp')} /tmp ro`,
    ...PROC_DEV,
    TMP,
    'dir /app',
    'remountRo /',
  ]);
  // Two layers: the flattened tree, bound whole when it has every mount point.
  const upper = tree('image-upper', ['bin/']);
  const flat = tree('image-flat', ['proc/', 'dev/', 'tmp/', 'etc/', 'bin/']);
  t.deepEqual(mounts(imageCfg([layer, upper], flat)), [`rootBind ${flat} /`, ...PROC_DEV, TMP, 'remountRo /']);
});
