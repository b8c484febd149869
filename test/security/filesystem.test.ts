// The host's files as a hostile program inside sees them: chroot-style escapes, host files read
// through /proc, /sys, device nodes, and the flags of every mount (a read-only bind must be
// read-only all the way down; nothing may be setuid or a device unless it is one of /dev's).
// Each attack runs in the real sandbox; each control runs the same probe outside, where it gets
// through. Nothing outside is written: the canaries are files this test made.
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { SandboxOptions } from '../../lib/index.js';
import {
  buildProbes,
  inside,
  isRoot,
  outside,
  parseMountinfo,
  PROBE_DIR,
  probeBox,
  probeInside,
  probeOutside,
  repoRoot,
  scratch,
  suidDevParent,
  type MountLine,
  type Probes,
} from '../fixtures/probes/harness.js';

let p: Probes;
// A host file with a name nothing else has: no way out of the sandbox may reach it.
const canary = `/tmp/host-canary-${randomBytes(8).toString('hex')}`;
const cleanup: (() => void)[] = [];

test.before(() => {
  p = buildProbes('fs');
  writeFileSync(canary, 'host secret\n', { mode: 0o644 });
});
test.after.always(() => {
  rmSync(canary, { force: true });
  p?.remove();
  for (const c of cleanup) c();
});

const box = (opts: SandboxOptions = {}) => probeBox(p, opts);

test('chroot escapes (chroot + chdir("..") loop, /proc/1/root/.., /proc/self/cwd/.., ../..) never reach a host file', async (t) => {
  for (const seccomp of ['default', 'none'] as const) {
    const lines = await inside(box({ seccomp }), [`${PROBE_DIR}/probe`, 'chroot-escape', canary, '/tmp/jail']);
    t.is(lines.length, 7, lines.join('; '));
    for (const l of lines) t.notRegex(l, /found/, `seccomp ${seccomp}: ${l}`);
    t.true(lines.includes('chroot EPERM'), `seccomp ${seccomp}: chroot is refused`);
  }
  // Control: outside the same probe reaches the canary (directly; as root, through the chroot too).
  const jail = scratch('jail');
  cleanup.push(jail.remove);
  const control = outside([p.probe, 'chroot-escape', canary, join(jail.path, 'j')]);
  t.log(control.join('; '));
  t.true(control.includes('direct found'));
  if (isRoot) t.true(control.includes('chroot found'), 'control: as root, the classic chroot escape works outside');
});

test("the host's /tmp is not the sandbox's: the canary is invisible, /tmp is empty", async (t) => {
  t.true(existsSync(canary), 'control: the canary exists on the host');
  t.is(await probeInside(box(), ['open', canary, 'r']), 'ENOENT');
  t.deepEqual(await inside(box(), ['ls', '-A', '/tmp']), []);
});

test('mountinfo inside names no host path but the mount sources asked for', async (t) => {
  const mounts = parseMountinfo(await inside(box(), ['cat', '/proc/self/mountinfo']));
  // The `root` field of a bind is its source path on the host filesystem: the probe dir and the
  // host view's /usr, /etc files are sources we asked for. Everything else is a root of its own.
  // Where the probe dir's filesystem is a mount of its own (a tmpfs /tmp), the root is its path in it.
  // A host /etc entry that is a symlink (/etc/localtime) is bound from where it points.
  const etcTargets = new Set(mounts.filter((m) => m.point.startsWith('/etc/')).map((m) => hostRealpath(m.point)));
  const allowedRoot = (r: string) =>
    r === '/' ||
    etcTargets.has(r) ||
    r === p.dir ||
    (r.startsWith('/') && p.dir.endsWith(r)) ||
    /^\/(usr|bin|sbin|lib|lib32|lib64|libx32|etc\/[^/]+)$/.test(r) ||
    /^\/(null|zero|full|random|urandom|tty)$/.test(r) || // /dev nodes, /proc masks
    /^\/(sys|sysrq-trigger|irq|bus|fs)$/.test(r); // read-only parts of the sandbox's own proc
  for (const m of mounts) t.true(allowedRoot(m.root), `mount ${m.point} shows host path ${m.root}`);
  const text = mounts.map((m) => `${m.root} ${m.point}`).join('\n');
  for (const secret of ['oldroot', 'newroot', process.cwd(), canary]) t.false(text.includes(secret), secret);
  // Control: the same read outside shows the host's table, with mounts the sandbox has not.
  const host = parseMountinfo(outside(['cat', '/proc/self/mountinfo']));
  const inner = new Set(mounts.map((m) => `${m.fstype} ${m.point}`));
  t.true(
    host.some((m) => !inner.has(`${m.fstype} ${m.point}`)),
    'control: the host table differs',
  );
});

test('/sys is not mounted', async (t) => {
  t.is(await probeInside(box(), ['open', '/sys', 'r']), 'ENOENT');
  t.is(await probeInside(box(), ['open', '/sys/kernel', 'r']), 'ENOENT');
  if (!existsSync('/sys/kernel')) return t.log('control skipped: the host has no /sys either');
  t.is(probeOutside(p, ['open', '/sys/kernel', 'r']), 'ok', 'control');
});

test('/proc: kernel files masked (empty) or absent, /proc/sys read-only', async (t) => {
  const b = box();
  for (const f of ['kcore', 'keys', 'timer_list', 'sched_debug', 'latency_stats']) {
    const size = await inside(b, ['sh', '-c', `if [ -e /proc/${f} ]; then wc -c < /proc/${f}; else echo absent; fi`]);
    t.regex(size[0]!, /^(0|absent)$/, `/proc/${f}`);
  }
  // Control: outside, the same read of timer_list gets content (root) or is refused (rootless).
  if (existsSync('/proc/timer_list')) {
    const control = outside(['sh', '-c', 'wc -c < /proc/timer_list 2>/dev/null || echo unreadable'])[0];
    t.log(`/proc/timer_list outside: ${control}`);
    t.not(control, '0', 'control: /proc/timer_list outside');
  } else {
    t.log('control skipped: this kernel has no /proc/timer_list');
  }

  const mounts = parseMountinfo(await inside(b, ['cat', '/proc/self/mountinfo']));
  const sys = mounts.find((m) => m.point === '/proc/sys');
  t.truthy(sys, '/proc/sys is a mount of its own');
  t.true(sys!.options.includes('ro'), '/proc/sys is read-only');
  const wr = await probeInside(b, ['open', '/proc/sys/kernel/hostname', 'w']);
  t.regex(wr, /^(EROFS|EACCES)$/);
  if (isRoot)
    t.is(
      probeOutside(p, ['open', '/proc/sys/kernel/hostname', 'w']),
      'ok',
      'control: root may open it for writing outside (nothing is written)',
    );
});

test('/dev holds only null zero full random urandom tty, shm, pts and the usual links', async (t) => {
  const dev = await inside(box(), ['ls', '-A', '/dev']);
  t.deepEqual(dev.sort(), ['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  const host = outside(['ls', '-A', '/dev']);
  t.notDeepEqual(host.sort(), dev, 'control: the host has more');
});

/** Mounts that may lack nodev: the device binds and the tmpfs and devpts that hold them. */
const deviceMount = (m: MountLine) =>
  m.point === '/dev' ||
  m.point === '/dev/pts' ||
  /^\/dev\/(null|zero|full|random|urandom|tty)$/.test(m.point) ||
  (m.point.startsWith('/proc/') && m.root === '/null');

function checkFlags(t: import('ava').ExecutionContext, mounts: MountLine[], what: string) {
  for (const m of mounts) {
    const masked = m.point.startsWith('/proc/') && m.root === '/null'; // /dev/null over a /proc file
    if (!masked) t.true(m.options.includes('nosuid'), `${what}: ${m.point} is nosuid (${m.options.join(',')})`);
    if (!deviceMount(m)) t.true(m.options.includes('nodev'), `${what}: ${m.point} is nodev (${m.options.join(',')})`);
  }
}

test('every mount is nosuid, and nodev unless it holds /dev nodes: default root, binds, a bind with submounts', async (t) => {
  const binds = [
    { src: p.dir, dst: '/ro' },
    { src: p.dir, dst: '/rw', rw: true },
    { src: '/dev', dst: '/hostdev' }, // has submounts on the host (shm, pts)
  ];
  const mounts = parseMountinfo(await inside(box({ binds }), ['cat', '/proc/self/mountinfo']));
  checkFlags(t, mounts, 'default root');
  const sub = mounts.filter((m) => m.point.startsWith('/hostdev/'));
  for (const m of sub) t.true(m.options.includes('ro'), `the read-only bind's submount ${m.point} is read-only too`);
  t.log(`submounts of the /dev bind: ${sub.map((m) => m.point).join(' ') || 'none'}`);
});

// Needs the host's writable /dev/shm mount under /dev; declared skipped where there is none.
const hostShm = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)).find(
  (m) => m.point === '/dev/shm' && m.options.includes('rw'),
);
(hostShm !== undefined ? test : test.skip)(
  'a read-only bind is read-only all the way down: the host /dev/shm under a bind of /dev',
  async (t) => {
    const name = `sandbox-sec-${randomBytes(6).toString('hex')}`;
    cleanup.push(() => rmSync(join('/dev/shm', name), { force: true }));
    const got = await inside(box({ binds: [{ src: '/dev', dst: '/hostdev' }] }), [
      'sh',
      '-c',
      `touch /hostdev/shm/${name} 2>/dev/null; echo $?`,
    ]);
    t.is(got[0], '1', 'touch fails inside');
    t.false(existsSync(join('/dev/shm', name)), 'nothing appeared in the host /dev/shm');
    // Control: bound read-write, the same touch lands on the host (in a file this test removes).
    const rw = await inside(box({ binds: [{ src: '/dev/shm', dst: '/shm', rw: true }] }), ['sh', '-c', `touch /shm/${name}; echo $?`]);
    t.is(rw[0], '0');
    t.true(existsSync(join('/dev/shm', name)), 'control: a rw bind does reach the host');
  },
);

function hostRealpath(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/** A directory rootfs: mount points, merged-/usr links, and the host /usr bound in. */
function makeRootfs(extra: (dir: string) => void, parent?: string): { path: string; opts: SandboxOptions } {
  const dir = scratch('rootfs', 0o755, parent);
  cleanup.push(dir.remove);
  for (const d of ['usr', 'proc', 'dev', 'tmp', PROBE_DIR.slice(1)]) mkdirSync(join(dir.path, d), { mode: 0o755 });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${l}`, join(dir.path, l));
  extra(dir.path);
  return { path: dir.path, opts: { rootfs: dir.path, binds: [{ src: '/usr', dst: '/usr' }] } };
}

test('a directory rootfs is mounted nosuid,nodev, bound as it is or as an overlay', async (t) => {
  const complete = makeRootfs(() => {});
  const bound = parseMountinfo(await inside(box(complete.opts), ['/bin/cat', '/proc/self/mountinfo']));
  checkFlags(t, bound, 'bound rootfs');
  // A missing mount point (/data) makes it an overlay.
  const overlay = parseMountinfo(
    await inside(box({ ...complete.opts, binds: [...complete.opts.binds!, { src: p.dir, dst: '/data' }] }), [
      '/bin/cat',
      '/proc/self/mountinfo',
    ]),
  );
  t.true(overlay.some((m) => m.point === '/' && m.fstype === 'overlay'));
  checkFlags(t, overlay, 'overlay rootfs');
});

test('a bind source through an absolute symlink is followed as on the host, on the default root and in a rootfs directory', async (t) => {
  const dir = scratch('symlinked-source');
  cleanup.push(dir.remove);
  mkdirSync(join(dir.path, 'real'), { mode: 0o755 });
  writeFileSync(join(dir.path, 'real', 'f'), 'through the link\n', { mode: 0o644 });
  symlinkSync(join(dir.path, 'real'), join(dir.path, 'link')); // absolute target, as /var/run → /run
  const bind = { src: join(dir.path, 'link', 'f'), dst: '/data/f' };
  t.deepEqual(await inside(box({ binds: [bind] }), ['cat', '/data/f']), ['through the link']);
  const rootfs = makeRootfs(() => {}); // /data is made in the overlay's upper layer
  t.deepEqual(await inside(box({ ...rootfs.opts, binds: [...rootfs.opts.binds!, bind] }), ['/bin/cat', '/data/f']), ['through the link']);
  // The host's own /etc/localtime is usually such a link: inside it reads the same zone data.
  if (hostRealpath('/etc/localtime') !== null) {
    const inner = await inside(box(), ['sh', '-c', 'cksum < /etc/localtime']);
    t.deepEqual(inner, outside(['sh', '-c', 'cksum < /etc/localtime']));
  }
});

test("a bind of the host's /proc/irq (where the default root is built) shows the host's, not the new root", async (t) => {
  if (!existsSync('/proc/irq')) return t.pass('this kernel has no /proc/irq: the default root is built in a staging area');
  const listed = await inside(box({ binds: [{ src: '/proc/irq', dst: '/hostirq' }] }), ['ls', '/hostirq']);
  t.false(listed.includes('usr'), listed.join(' '));
  t.deepEqual(listed.sort(), outside(['ls', '/proc/irq']).sort());
});

// Only root can make a device node or a setuid-root file to plant: declared skipped rootless.
(isRoot ? test : test.skip)('a device node and a setuid-root file in a rootfs directory do not work inside', async (t) => {
  const rootfs = makeRootfs((dir) => {
    // What an image unpacked as root may carry: a device anyone may open, a setuid-root program.
    const mk = outside(['sh', '-c', `mknod ${join(dir, 'null2')} c 1 3 && chmod 666 ${join(dir, 'null2')} && echo made`]);
    if (mk[0] !== 'made') throw new Error('mknod failed');
    copyFileSync('/usr/bin/id', join(dir, 'suid-id'));
    chmodSync(join(dir, 'suid-id'), 0o4755);
  }, suidDevParent());
  const b = box(rootfs.opts);
  t.is(await probeInside(b, ['open', '/null2', 'w']), 'EACCES', 'nodev: the device cannot be opened');
  t.is((await inside(b, ['/suid-id', '-u']))[0], '1000', 'the setuid-root file runs as the sandbox user');
  // Controls: outside, the node opens and the setuid bit works.
  t.is(probeOutside(p, ['open', join(rootfs.path, 'null2'), 'w']), 'ok');
  t.is(outside(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', join(rootfs.path, 'suid-id'), '-u'])[0], '0');
});

// Only root can mount inside a rootfs directory (in a mount namespace of its own): declared skipped rootless.
(isRoot ? test : test.skip)('a mount inside a rootfs directory is read-only inside too, like the rootfs', async (t) => {
  const rootfs = makeRootfs((dir) => mkdirSync(join(dir, 'data')));
  const data = join(rootfs.path, 'data');
  // The host's mounts stay as they are: the tmpfs goes into a private mount namespace, and a Node
  // child there launches the sandbox. In the same namespace, the control: the tmpfs is writable.
  const script =
    `import { Sandbox } from ${JSON.stringify(join(repoRoot, 'lib/index.ts'))};` +
    `const r = await new Sandbox(${JSON.stringify(rootfs.opts)}).run(['/bin/sh', '-c', 'touch /data/x 2>/dev/null; echo inside-data $?; touch /y 2>/dev/null; echo inside-root $?']);` +
    'process.stdout.write(r.stdout.toString());';
  const got = outside(
    [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t tmpfs -o size=1m sandbox-test ${data} && touch ${data}/control && echo outside-data 0 && exec "$0" --import tsx --input-type=module -e "$1"`,
      process.execPath,
      script,
    ],
    { cwd: repoRoot },
  );
  t.deepEqual(got, ['outside-data 0', 'inside-data 1', 'inside-root 1'], 'neither the submount nor the rootfs is writable inside');
});
