// The plan for the options docker's flags add (user, ulimits, shmSize) and a rootfs directory's
// identity files: pure TypeScript, no kernel.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MountFlag, MountOp } from '../../lib/native-plan.js';
import { identity, Rlimit } from '../../lib/build-plan.js';
import { rootfsIdentity } from '../../lib/rootfs/identity.js';
import { resolveOptions } from '../../lib/validate.js';
import type { SandboxOptions } from '../../lib/options.js';
import { planFor } from '../helpers/plan.js';

const scratch = mkdtempSync(join(tmpdir(), 'plan-options-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

const plan = (options: SandboxOptions, callerUid = 0) => planFor(resolveOptions(options), { callerUid });

test('a root caller maps the sandbox to nobody, or to the host ids of `user`', (t) => {
  t.is(identity(0, 0, false).uidMap, '1000 65534 1\n');
  t.deepEqual(identity(0, 0, false, { uid: 4242, gid: 4243 }), {
    uidMap: '1000 4242 1\n',
    gidMap: '1000 4243 1\n',
    parentWritesMaps: true,
    deferRelease: false,
  });
  t.is(identity(1234, 1234, false, { uid: 4242, gid: 4243 }).uidMap, '1000 1234 1\n', 'a non-root caller maps its own ids');
});

test("a root caller's image run maps 0-65535 onto the foreign range its store's files belong to; `user` takes the command's id", (t) => {
  const base = 0x7ffe0000;
  t.deepEqual(identity(0, 0, false, null, { uid: 0, gid: 0 }, true), {
    uidMap: `0 ${base} 65536\n`,
    gidMap: `0 ${base} 65536\n`,
    parentWritesMaps: true,
    deferRelease: false,
  });
  t.is(identity(0, 0, true, null, { uid: 1234, gid: 5 }, true).uidMap, `0 ${base} 65536\n`, 'subordinate too');
  const chosen = identity(0, 0, false, { uid: 4242, gid: 4243 }, { uid: 1234, gid: 0 }, true);
  t.is(chosen.uidMap, `0 ${base} 1234\n1234 4242 1\n1235 ${base + 1235} 64301\n`);
  t.is(chosen.gidMap, `0 4243 1\n1 ${base + 1} 65535\n`);
  t.is(identity(1234, 1234, false, null, { uid: 0, gid: 0 }, true).uidMap, '0 1234 1\n', 'rootless: the caller, who owns the files');
});

test("ulimits come first; the sandbox's own rlimits win where lower; core dumps stay off unless asked", (t) => {
  const r = plan({ ulimits: { nofile: 64, fsize: { soft: 4096, hard: -1 } }, outputLimit: 1024, timeLimit: 1 }).rlimits;
  t.deepEqual(
    r.find((x) => x.resource === Rlimit.nofile),
    { resource: Rlimit.nofile, soft: 64, hard: 64 },
  );
  t.deepEqual(
    r.find((x) => x.resource === Rlimit.fsize),
    { resource: Rlimit.fsize, soft: 1024, hard: 1024 },
    '--output-limit is lower',
  );
  t.deepEqual(
    r.find((x) => x.resource === Rlimit.core),
    { resource: Rlimit.core, soft: 0, hard: 0 },
  );
  t.is(r.filter((x) => x.resource === Rlimit.cpu).length, 1);
  const core = plan({ ulimits: { core: -1 } }).rlimits.filter((x) => x.resource === Rlimit.core);
  t.deepEqual(core, [{ resource: Rlimit.core, soft: -1, hard: -1 }]);
});

test('shmSize is a sized tmpfs on /dev/shm, after the /dev op', (t) => {
  const mounts = plan({ shmSize: '2m' }).mounts;
  const dev = mounts.findIndex((m) => m.op === MountOp.dev);
  const shm = mounts.findIndex((m) => m.op === MountOp.tmpfs && m.dst === '/dev/shm');
  t.true(dev >= 0 && shm > dev);
  t.is(mounts[shm]!.data, `mode=1777,size=${2 * 2 ** 20},nr_inodes=4096`);
});

test('a rootfs directory: an entry for the id inside is added to its passwd and group, its own kept', (t) => {
  const root = join(scratch, 'plain');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:999:999::/app:/bin/sh');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nstaff:x:1000:\n');
  writeFileSync(join(root, 'etc/hostname'), 'image\n');
  const files = Object.fromEntries(rootfsIdentity(root, 1000, 1000, 'judge').map((f) => [f.dst, f.data]));
  t.is(files['/etc/passwd'], 'root:x:0:0:root:/root:/bin/sh\napp:x:999:999::/app:/bin/sh\nsandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n');
  t.is(files['/etc/group'], 'root:x:0:\nstaff:x:1000:\n', 'gid 1000 already has a name there');
  t.is(files['/etc/hostname'], 'judge\n');
  t.false('/etc/hosts' in files, 'only files the rootfs has are replaced');
});

test("a rootfs directory whose passwd is a symlink out of it: the host's file is never read", (t) => {
  const root = join(scratch, 'escape');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const secret = join(scratch, 'host-secret');
  writeFileSync(secret, 'secret:x:0:0::/:/bin/sh\n');
  symlinkSync(secret, join(root, 'etc/passwd'));
  symlinkSync('/etc/hostname', join(root, 'etc/hostname'));
  const files = rootfsIdentity(root, 1000, 1000, 'judge');
  t.deepEqual(files, []);
  t.false(JSON.stringify(files).includes('secret'));
  t.is(readFileSync(secret, 'utf8'), 'secret:x:0:0::/:/bin/sh\n');
});

test("a rootfs directory's identity files are bound read-only from copies, the root stays a bind", (t) => {
  const root = join(scratch, 'complete');
  for (const d of ['etc', 'proc', 'dev', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const mounts = plan({ rootfs: root });
  t.is(mounts.mounts[0]!.op, MountOp.rootBind, 'no overlay needed: nothing is made in the rootfs');
  const bind = mounts.mounts.find((m) => m.dst === '/etc/passwd')!;
  t.is(bind.op, MountOp.bind);
  t.is(bind.flags & MountFlag.readOnly, MountFlag.readOnly);
  t.regex(readFileSync(bind.src, 'utf8'), /^sandbox:x:1000:1000:/m);
  t.false(bind.src.startsWith(root));
});
