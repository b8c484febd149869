// The cgroup layer without a kernel: parsers with injected text, writers and readers against a
// temporary directory holding the files cgroupfs would have.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SandboxError } from '../../lib/errors.js';
import { cgroupDirFor, detectLayout, mountedCgroups, namedParentDir, v1ControllersOf } from '../../lib/cgroup/detect.js';
import { errorText } from '../../lib/errno.js';
import { cgroupError, readCgroupFile, readOptionalCgroupFile, writeCgroupFile } from '../../lib/cgroup/files.js';
import { checkLimits, cpuQuotaUs, formatCount, formatCpuMax } from '../../lib/cgroup/limits.js';
import {
  parseKeyValue,
  parseMountinfo,
  parseNumber,
  parsePids,
  parseProcCgroup,
  parseStartTime,
  splitCpu,
  unescapeMountField,
} from '../../lib/cgroup/proc.js';
import { nextSandboxName, ownerAlive, processStartTime, SANDBOX_NAME, SUPERVISOR_NAME } from '../../lib/cgroup/stale.js';
import { readCpuUsageUsV1, readCpuV1, readMemoryV1, readUsageV1, writeLimitsV1 } from '../../lib/cgroup/v1.js';
import { commonAncestor, readCpuUsageUsV2, readUsageV2, USAGE_FILES_V2, writeLimitsV2 } from '../../lib/cgroup/v2.js';
import {
  closeSteps,
  makeLater,
  makeNow,
  readThenRemove,
  runStepsAsync,
  runStepsHere,
  stepsError,
  type CgroupStep,
} from '../../lib/cgroup/steps.js';

const MiB = 1 << 20;

const tempDirs: string[] = [];
test.after.always(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory with these files (name → content). */
function fakeCgroup(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-unit-'));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}
const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8');

// --- /proc/self/mountinfo and /proc/self/cgroup ---------------------------------------------------

// This machine: cgroup v1 hierarchies plus an empty cgroup2 at /sys/fs/cgroup/unified (hybrid).
const HOST_MOUNTINFO = `22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HOST_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/775c
2:cpuacct:/
1:cpu:/
0::/
`;

// A systemd distribution with cpu,cpuacct co-mounted.
const COMOUNTED_MOUNTINFO = `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
`;
const COMOUNTED_CGROUP = `12:pids:/user.slice/user-1000.slice/session-2.scope
4:memory:/user.slice/user-1000.slice/session-2.scope
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
`;

// The cgroup v2 VM.
const V2_MOUNTINFO = `20 1 254:0 / / rw - ext4 /dev/vda rw
28 20 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_CGROUP = '0::/system.slice/vm-command.service\n';

test('parseMountinfo reads the fields around the optional ones and unescapes paths', (t) => {
  const mounts = parseMountinfo(COMOUNTED_MOUNTINFO + '99 25 0:40 /a\\040b /mnt/with\\040space rw - cgroup2 none rw\nbroken line\n');
  t.is(mounts.length, 7);
  t.deepEqual(mounts[3], {
    mountId: 30,
    parentId: 25,
    root: '/',
    mountPoint: '/sys/fs/cgroup/cpu,cpuacct',
    fsType: 'cgroup',
    source: 'cgroup',
    superOptions: ['rw', 'cpu', 'cpuacct'],
  });
  t.is(mounts[6]!.mountPoint, '/mnt/with space');
  t.is(mounts[6]!.root, '/a b');
  t.is(unescapeMountField('a\\011b\\134c\\012'), 'a\tb\\c\n');
});

test('parseProcCgroup keeps colons in paths and splits controller lists', (t) => {
  t.deepEqual(parseProcCgroup('3:cpu,cpuacct:/a:b\n0::/\n\n'), [
    { hierarchyId: 3, controllers: ['cpu', 'cpuacct'], path: '/a:b' },
    { hierarchyId: 0, controllers: [], path: '/' },
  ]);
});

test('detectLayout: hybrid v1 host, each controller in its own hierarchy', (t) => {
  const { layout } = detectLayout(HOST_MOUNTINFO, HOST_CGROUP);
  t.is(layout?.mode, 'cgroup1');
  if (layout?.mode !== 'cgroup1') return;
  t.is(layout.hierarchies.memory?.dir, '/sys/fs/cgroup/memory/process_api/775c');
  t.is(layout.hierarchies.cpu?.dir, '/sys/fs/cgroup/cpu');
  t.is(layout.hierarchies.cpuacct?.dir, '/sys/fs/cgroup/cpuacct');
  t.is(layout.hierarchies.pids?.dir, '/sys/fs/cgroup/pids');
});

test('detectLayout: v1 with cpu,cpuacct co-mounted gives one directory for both', (t) => {
  const { layout } = detectLayout(COMOUNTED_MOUNTINFO, COMOUNTED_CGROUP);
  if (layout?.mode !== 'cgroup1') return t.fail();
  t.is(layout.hierarchies.cpu?.dir, '/sys/fs/cgroup/cpu,cpuacct/user.slice');
  t.is(layout.hierarchies.cpuacct?.dir, '/sys/fs/cgroup/cpu,cpuacct/user.slice');
  t.is(layout.hierarchies.pids?.dir, '/sys/fs/cgroup/pids/user.slice/user-1000.slice/session-2.scope');
});

test('detectLayout: unified v2', (t) => {
  const { layout } = detectLayout(V2_MOUNTINFO, V2_CGROUP);
  if (layout?.mode !== 'cgroup2') return t.fail();
  t.is(layout.dir, '/sys/fs/cgroup/system.slice/vm-command.service');
  t.is(layout.cgroupPath, '/system.slice/vm-command.service');
});

test('detectLayout: a container whose cgroupfs root is its own cgroup (mountinfo root field)', (t) => {
  // Without a cgroup namespace: the mount shows /docker/abc at /sys/fs/cgroup, our path is /docker/abc/job.
  const mountinfo = '50 40 0:26 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n';
  const { layout } = detectLayout(mountinfo, '0::/docker/abc/job\n');
  if (layout?.mode !== 'cgroup2') return t.fail();
  t.is(layout.dir, '/sys/fs/cgroup/job');
  // With a cgroup namespace both are "/".
  const ns = detectLayout('50 40 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n', '0::/\n').layout;
  t.is(ns?.mode === 'cgroup2' ? ns.dir : null, '/sys/fs/cgroup');
  // Our cgroup outside the mounted subtree: not usable.
  const outside = detectLayout(mountinfo, '0::/other\n');
  t.is(outside.layout, null);
  t.is(outside.layout === null ? outside.code : null, 'no-cgroupfs');
  const aboveNs = detectLayout('50 40 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n', '0::/../sibling\n');
  t.is(aboveNs.layout, null);
});

test('detectLayout: a later mount on the same point hides the earlier one; cgroup2 elsewhere is v2', (t) => {
  const shadowed = HOST_MOUNTINFO + '90 31 0:50 / /sys/fs/cgroup/memory rw - tmpfs tmpfs rw\n';
  const result = detectLayout(shadowed, HOST_CGROUP);
  t.is(result.layout, null);
  t.is(result.layout === null ? result.code : null, 'controllers');
  t.regex(result.layout === null ? result.reason : '', /memory/);
  const elsewhere = detectLayout('28 20 0:26 / /run/cg2 rw - cgroup2 cgroup2 rw\n', '0::/a\n').layout;
  t.is(elsewhere?.mode === 'cgroup2' ? elsewhere.dir : null, '/run/cg2/a');
  const none = detectLayout('22 1 253:0 / / rw - ext4 /dev/vda rw\n', '0::/\n');
  t.is(none.layout === null ? none.code : null, 'no-cgroupfs');
});

test('mountedCgroups: the mode as mounted, v1 controllers without flags or names, the usual place first', (t) => {
  const [m] = parseMountinfo('1 0 0:1 / /cg rw - cgroup cgroup rw,cpu,cpuacct,clone_children,name=x,release_agent=/bin/a\n');
  t.deepEqual(v1ControllersOf(m!), ['cpu', 'cpuacct']);
  const hybrid = mountedCgroups(
    '1 0 0:1 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n' +
      '2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n' +
      '3 0 0:3 / /run/elsewhere rw - cgroup2 cgroup2 rw\n' +
      '4 0 0:3 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n',
  );
  t.is(hybrid.mode, 'hybrid');
  t.deepEqual(hybrid.v1Controllers, ['memory']);
  t.deepEqual(
    hybrid.v2Mounts.map((x) => x.mountPoint),
    ['/sys/fs/cgroup/unified', '/run/elsewhere'],
  );
  // A named hierarchy alone carries no controller: v2 as far as limits go.
  t.is(mountedCgroups('1 0 0:1 / /a rw - cgroup cgroup rw,name=systemd\n2 0 0:2 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n').mode, 'v2');
  t.is(mountedCgroups('1 0 0:1 / / rw - ext4 /dev/sda rw\n').mode, 'none');
  // A later mount on the same point hides the earlier one.
  t.is(mountedCgroups('1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n2 0 0:2 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n').mode, 'none');
});

test('cgroupDirFor and namedParentDir', (t) => {
  const mount = { mountPoint: '/sys/fs/cgroup', root: '/' };
  t.is(cgroupDirFor(mount, '/'), '/sys/fs/cgroup');
  t.is(cgroupDirFor(mount, '/a/b'), '/sys/fs/cgroup/a/b');
  t.is(cgroupDirFor({ mountPoint: '/m', root: '/x/' }, '/x/y'), '/m/y');
  t.is(cgroupDirFor({ mountPoint: '/m', root: '/x' }, '/xy'), null);
  t.is(cgroupDirFor({ mountPoint: '/m', root: '/x' }, '/x'), '/m');
  t.is(cgroupDirFor(mount, '/..'), null);
  t.is(namedParentDir(mount, '/me', '/sys/fs/cgroup/judge/'), '/sys/fs/cgroup/judge');
  t.is(namedParentDir(mount, '/me', '/judge'), '/sys/fs/cgroup/judge');
  t.is(namedParentDir(mount, '/me', 'jobs'), '/sys/fs/cgroup/me/jobs');
  t.is(commonAncestor('/sys/fs/cgroup/a/b', '/sys/fs/cgroup/a'), '/sys/fs/cgroup/a');
  t.is(commonAncestor('/sys/fs/cgroup/a/b', '/sys/fs/cgroup/ab/c'), '/sys/fs/cgroup');
});

// --- value formatting -----------------------------------------------------------------------------

test('cpu quota: cores to µs per 100 ms period, at least 1 ms', (t) => {
  t.is(cpuQuotaUs(0.5), 50_000);
  t.is(cpuQuotaUs(2), 200_000);
  t.is(cpuQuotaUs(0.001), 1_000);
  t.is(cpuQuotaUs(0.0123), 1_230);
  t.is(formatCpuMax(1.5), '150000 100000');
  t.is(formatCpuMax(null), 'max 100000');
  t.is(formatCount(64 * MiB), '67108864');
});

test('checkLimits refuses values no cgroup file would take', (t) => {
  t.notThrows(() => checkLimits({ cpuQuota: 0.5, memoryBytes: MiB, pids: 1 }));
  t.notThrows(() => checkLimits({ cpuQuota: null, memoryBytes: null, pids: null }));
  for (const bad of [
    { cpuQuota: 0, memoryBytes: null, pids: null },
    { cpuQuota: Number.NaN, memoryBytes: null, pids: null },
    { cpuQuota: null, memoryBytes: 1.5, pids: null },
    { cpuQuota: null, memoryBytes: -1, pids: null },
    { cpuQuota: null, memoryBytes: null, pids: 0 },
  ]) {
    const error = t.throws(() => checkLimits(bad), { instanceOf: SandboxError });
    t.regex(error!.message, /^Expected .* for (cpuQuota|memoryBytes|pids) but received /);
  }
});

// --- steps: a cgroup's making and removal, on this thread or as one job on the addon's lane ---------

/** Steps that make `leaf` in a fresh directory, write one file the "kernel" offers, then `last`. */
function makingOf(last: CgroupStep): { parent: string; leaf: string; steps: CgroupStep[] } {
  const parent = fakeCgroup({});
  const leaf = path.join(parent, 'sandbox-1');
  return { parent, leaf, steps: [{ kind: 'mkdir', path: leaf }, { kind: 'open', path: leaf }, last] };
}

for (const [how, make] of [
  ['on this thread', async (steps: CgroupStep[]) => makeNow(steps)],
  ["on the addon's lane", makeLater],
  [
    'through node:fs (no addon)',
    async (steps: CgroupStep[]) => {
      const results = runStepsHere(steps);
      const err = stepsError(steps, results);
      if (err !== null) throw err;
      return results;
    },
  ],
] as const) {
  test(`steps ${how}: a failed making says which file and why, and leaves nothing`, async (t) => {
    const absent = makingOf({ kind: 'write', path: '', text: '1' });
    absent.steps[2]!.path = path.join(absent.leaf, 'pids.max');
    const e1 = await t.throwsAsync(make(absent.steps), { instanceOf: SandboxError });
    t.is(e1!.message, `cannot write pids.max in ${absent.leaf}: No such file or directory`);
    t.is(e1!.stage, 'cgroup');
    t.false(fs.existsSync(absent.leaf), 'the directory made is removed again');
    const missing = makingOf({ kind: 'write', path: '', text: '1', missing: 'cannot limit the CPU quota: no cpu.max' });
    missing.steps[2]!.path = path.join(missing.leaf, 'cpu.max');
    await t.throwsAsync(make(missing.steps), { instanceOf: SandboxError, message: 'cannot limit the CPU quota: no cpu.max' });
    const taken = fakeCgroup({});
    fs.mkdirSync(path.join(taken, 'sandbox-1'));
    await t.throwsAsync(make([{ kind: 'mkdir', path: path.join(taken, 'sandbox-1') }]), {
      message: `cannot create sandbox-1 in ${taken}: File exists`,
    });
  });

  test(`steps ${how}: optional and best-effort writes, and the fd of an open`, async (t) => {
    const ok = makingOf({ kind: 'write', path: '', text: '0', optional: true });
    ok.steps[2]!.path = path.join(ok.leaf, 'memory.swap.max');
    ok.steps.push({ kind: 'write', path: path.join(ok.leaf, 'memory.swappiness'), text: '0', bestEffort: true });
    const results = await make(ok.steps);
    t.deepEqual([results[0], results[2], results[3]], [0, 0, 0], 'absent optional and best-effort files are skipped');
    const fd = results[1] as number;
    t.true(fd > 2 && fs.fstatSync(fd).isDirectory(), 'the open step gives a directory fd');
    fs.closeSync(fd);
  });

  test(`steps ${how}: open-w gives a file's fd for writing, close closes it; a failed open-w undoes the making`, async (t) => {
    const parent = fakeCgroup({});
    const leaf = path.join(parent, 'sandbox-3');
    const tasks = path.join(leaf, 'tasks');
    await make([{ kind: 'mkdir', path: leaf }]);
    fs.writeFileSync(tasks, ''); // the kernel's file, in a real cgroup
    const fd = (await make([{ kind: 'open-w', path: tasks }]))[0] as number;
    t.true(fd > 2, 'an fd');
    fs.writeSync(fd, '0');
    t.is(fs.readFileSync(tasks, 'utf8'), '0', 'open for writing, on the file named');
    const closed = await make(closeSteps([fd]));
    t.deepEqual(closed, [0]);
    t.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, 'the close step closed it');
    const other = path.join(parent, 'sandbox-4');
    const e = await t.throwsAsync(
      make([
        { kind: 'mkdir', path: other },
        { kind: 'open', path: other },
        { kind: 'open-w', path: path.join(other, 'tasks') },
      ]),
      {
        instanceOf: SandboxError,
      },
    );
    t.is(e!.message, `cannot open tasks in ${other}: No such file or directory`);
    t.false(fs.existsSync(other), 'the directory made is removed again (and the open before it closed)');
  });
}

test("steps handed over all at once: more than the addon's lane takes go to libuv's pool, every job answers in full", async (t) => {
  const dir = fakeCgroup({ 'pids.max': 'max\n' });
  const jobs = Array.from({ length: 3000 }, (_, i) =>
    runStepsAsync([
      { kind: 'read', path: path.join(dir, 'pids.max') },
      { kind: 'read', path: path.join(dir, `absent-${i}`) },
    ]),
  );
  const results = await Promise.all(jobs);
  t.is(results.length, 3000);
  t.true(results.every((r) => r[0] === 'max\n' && r[1] === -os.constants.errno.ENOENT));
});

test('readThenRemove reads the figures, then removes the directories (absent files read as null)', async (t) => {
  // The figures beside the directory removed (a real cgroup's files go with it; a test's would keep it busy).
  const figures = fakeCgroup({ 'cpu.stat': 'usage_usec 7\nuser_usec 5\nsystem_usec 2\n' });
  const dir = path.join(figures, 'sandbox-2');
  fs.mkdirSync(dir);
  const seen: (string | null)[] = [];
  const usage = await readThenRemove(
    USAGE_FILES_V2.map((f) => path.join(figures, f)),
    [dir],
    (read) => {
      seen.push(read(figures, 'cpu.stat'), read(figures, 'memory.peak'));
      return readUsageV2(figures, read);
    },
    () => t.fail('nothing to kill: the directory was removed'),
  );
  t.deepEqual(seen, ['usage_usec 7\nuser_usec 5\nsystem_usec 2\n', null]);
  t.deepEqual([usage?.userUs, usage?.sysUs, usage?.memoryPeakBytes], [5, 2, null]);
  t.false(fs.existsSync(dir), 'removed after the reads');
});

// --- writers --------------------------------------------------------------------------------------

test('writeLimitsV2 writes cpu.max, memory.max, swap 0, oom.group 1, pids.max', (t) => {
  const dir = fakeCgroup({
    'cpu.max': 'max 100000\n',
    'memory.max': 'max\n',
    'memory.swap.max': 'max\n',
    'memory.oom.group': '0\n',
    'pids.max': 'max\n',
  });
  writeLimitsV2(dir, { cpuQuota: 0.5, memoryBytes: 64 * MiB, pids: 16 });
  t.is(read(dir, 'cpu.max'), '50000 100000');
  t.is(read(dir, 'memory.max'), String(64 * MiB));
  t.is(read(dir, 'memory.swap.max'), '0');
  t.is(read(dir, 'memory.oom.group'), '1');
  t.is(read(dir, 'pids.max'), '16');
});

test('writeLimitsV2 leaves unlimited values alone and skips files the kernel lacks', (t) => {
  const dir = fakeCgroup({ 'memory.max': 'max\n', 'pids.max': 'max\n' });
  writeLimitsV2(dir, { cpuQuota: null, memoryBytes: MiB, pids: null });
  t.is(read(dir, 'memory.max'), String(MiB));
  t.is(read(dir, 'pids.max'), 'max\n');
  t.false(fs.existsSync(path.join(dir, 'memory.swap.max')));
  const error = t.throws(() => writeLimitsV2(dir, { cpuQuota: 1, memoryBytes: null, pids: null }), { instanceOf: SandboxError });
  t.regex(error!.message, /cpu controller is not enabled/);
  t.is(error!.stage, 'cgroup');
});

test('writeLimitsV1 writes period before quota and memsw after the memory limit', (t) => {
  const files = {
    'cpu.cfs_period_us': '100000\n',
    'cpu.cfs_quota_us': '-1\n',
    'memory.limit_in_bytes': '9223372036854771712\n',
    'memory.memsw.limit_in_bytes': '9223372036854771712\n',
    'pids.max': 'max\n',
  };
  const dir = fakeCgroup(files);
  writeLimitsV1({ cpu: dir, cpuacct: dir, memory: dir, pids: dir }, { cpuQuota: 0.25, memoryBytes: 64 * MiB, pids: 16 });
  t.is(read(dir, 'cpu.cfs_period_us'), '100000');
  t.is(read(dir, 'cpu.cfs_quota_us'), '25000');
  t.is(read(dir, 'memory.limit_in_bytes'), String(64 * MiB));
  t.is(read(dir, 'memory.memsw.limit_in_bytes'), String(64 * MiB));
  t.is(read(dir, 'pids.max'), '16');
  t.false(fs.existsSync(path.join(dir, 'memory.swappiness')));
});

test('writeLimitsV1 without swap accounting sets swappiness 0; without a cpu hierarchy refuses a quota', (t) => {
  const dir = fakeCgroup({ 'memory.limit_in_bytes': '-1\n', 'memory.swappiness': '60\n', 'pids.max': 'max\n' });
  writeLimitsV1({ cpu: null, cpuacct: dir, memory: dir, pids: dir }, { cpuQuota: null, memoryBytes: MiB, pids: null });
  t.is(read(dir, 'memory.swappiness'), '0');
  t.throws(() => writeLimitsV1({ cpu: null, cpuacct: dir, memory: dir, pids: dir }, { cpuQuota: 1, memoryBytes: null, pids: null }), {
    message: /no cgroup v1 cpu hierarchy/,
  });
});

test('a failed write names the file, the directory and the cause', (t) => {
  const dir = fakeCgroup({});
  const error = t.throws(() => writeCgroupFile(dir, 'pids.max', '5'), { instanceOf: SandboxError });
  t.is(error!.message, `cannot write pids.max in ${dir}: No such file or directory`);
  t.is(error!.stage, 'cgroup');
  t.is(error!.code, 'ENOENT');
  t.is(error!.errno, 2);
  const busy = cgroupError(
    'write "+memory" to',
    'cgroup.subtree_control',
    '/x',
    Object.assign(new Error('x'), { code: 'EBUSY', errno: -16, syscall: 'write' }),
  );
  t.is(busy.message, 'cannot write "+memory" to cgroup.subtree_control in /x: Device or resource busy');
  t.is(busy.syscall, 'write');
  t.is(errorText(Object.assign(new Error('x'), { code: 'EACCES', errno: -13 })), 'Permission denied');
  // A value the file refuses (the write, not the open, fails): /dev/full answers ENOSPC.
  const refused = t.throws(() => writeCgroupFile('/dev', 'full', '5\n'), { instanceOf: SandboxError });
  t.is(refused!.message, 'cannot write "5" to full in /dev: No space left on device');
  t.is(refused!.syscall, 'write');
  t.is(refused!.errno, 28);
});

test('reads: the whole text, null for a file the kernel does not offer, an error naming it otherwise', (t) => {
  const dir = fakeCgroup({ 'memory.stat': 'cache 1\nrss 2\n'.repeat(2000) });
  t.is(readOptionalCgroupFile(dir, 'memory.stat'), 'cache 1\nrss 2\n'.repeat(2000));
  t.is(readOptionalCgroupFile(dir, 'memory.peak'), null);
  const missing = t.throws(() => readCgroupFile(dir, 'memory.peak'), { instanceOf: SandboxError });
  t.is(missing!.message, `cannot read memory.peak in ${dir}: No such file or directory`);
  const notFile = t.throws(() => readOptionalCgroupFile('/', 'etc'), { instanceOf: SandboxError });
  t.regex(notFile!.message, /^cannot read etc in \/: \S/);
  t.is(notFile!.code, 'EISDIR');
});

// --- readers --------------------------------------------------------------------------------------

const CPU_STAT_V2 = `usage_usec 1010727
user_usec 1007593
system_usec 3134
core_sched.force_idle_usec 0
nr_periods 10
nr_throttled 8
throttled_usec 779123
nr_bursts 0
burst_usec 0
`;

test('parseKeyValue reads flat keyed files and skips non-numbers', (t) => {
  const values = parseKeyValue(CPU_STAT_V2 + 'high max\n\n');
  t.is(values.get('usage_usec'), 1010727);
  t.is(values.get('throttled_usec'), 779123);
  t.false(values.has('high'));
  t.is(parseNumber('67108864\n'), 67108864);
  t.is(parseNumber('max\n'), null);
  t.deepEqual(parsePids('12\n345\n\n'), [12, 345]);
});

test('readUsageV2: cpu.stat, memory.peak, memory.stat, memory.events', (t) => {
  const dir = fakeCgroup({
    'cpu.stat': CPU_STAT_V2,
    'memory.peak': '67108864\n',
    'memory.stat': 'anon 52428800\nfile 4096\nkernel 1000\nfile_mapped 0\n',
    'memory.events': 'low 0\nhigh 0\nmax 120\noom 1\noom_kill 1\noom_group_kill 1\n',
  });
  t.deepEqual(readUsageV2(dir), {
    userUs: 1007593,
    sysUs: 3134,
    cpuSource: 'cpu.stat',
    memoryPeakBytes: 67108864,
    memorySource: 'memory.peak',
    anonBytes: 52428800,
    fileBytes: 4096,
    oomKills: 1,
    memoryFailcnt: null,
  });
  t.is(readCpuUsageUsV2(dir), 1010727);
});

test('readUsageV2 before 5.19: no memory.peak → null, the caller falls back to rusage', (t) => {
  const dir = fakeCgroup({ 'cpu.stat': 'usage_usec 100\nuser_usec 60\nsystem_usec 40\n' });
  const usage = readUsageV2(dir);
  t.is(usage.memoryPeakBytes, null);
  t.is(usage.memorySource, null);
  t.is(usage.anonBytes, null);
  t.is(usage.oomKills, 0);
  t.is(usage.userUs + usage.sysUs, 100);
});

test('readCpuV1: exact cpuacct.usage split by usage_user:usage_sys', (t) => {
  // Real figures: the ns splits are tick-sampled and sum to 2% more than the exact total.
  const dir = fakeCgroup({
    'cpuacct.usage': '1368612913\n',
    'cpuacct.usage_user': '839599319\n',
    'cpuacct.usage_sys': '553963188\n',
    'cpuacct.stat': 'user 82\nsystem 54\n',
  });
  const cpu = readCpuV1(dir);
  t.is(cpu.cpuSource, 'cpuacct.usage');
  t.is(cpu.userUs + cpu.sysUs, 1368613);
  t.is(cpu.userUs, Math.round((1368613 * 839599319) / (839599319 + 553963188)));
  t.is(readCpuUsageUsV1(dir), 1368613);
});

test('readCpuV1: older kernels split by cpuacct.stat ticks, or only have the ticks', (t) => {
  const noSplit = fakeCgroup({ 'cpuacct.usage': '2000000000\n', 'cpuacct.stat': 'user 150\nsystem 50\n' });
  t.deepEqual(readCpuV1(noSplit), { userUs: 1_500_000, sysUs: 500_000, cpuSource: 'cpuacct.usage' });
  const ticksOnly = fakeCgroup({ 'cpuacct.stat': 'user 12\nsystem 3\n' });
  t.deepEqual(readCpuV1(ticksOnly), { userUs: 120_000, sysUs: 30_000, cpuSource: 'cpuacct.stat' });
});

test('readMemoryV1: max_usage, total_rss/total_cache, oom_kill, failcnt of memory and memsw', (t) => {
  const dir = fakeCgroup({
    'memory.max_usage_in_bytes': '67108864\n',
    'memory.stat': 'cache 0\nrss 0\ntotal_cache 8192\ntotal_rss 1048576\ntotal_mapped_file 4096\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    'memory.failcnt': '3\n',
    'memory.memsw.failcnt': '4\n',
  });
  t.deepEqual(readMemoryV1(dir), {
    memoryPeakBytes: 67108864,
    memorySource: 'memory.max_usage_in_bytes',
    anonBytes: 1048576,
    fileBytes: 8192,
    oomKills: 2,
    memoryFailcnt: 7,
  });
  // Before 4.13 memory.oom_control has no oom_kill.
  const old = fakeCgroup({ 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\n', 'cpuacct.usage': '0\n' });
  const usage = readUsageV1({ cpuacct: old, memory: old });
  t.is(usage.oomKills, 0);
  t.is(usage.memoryPeakBytes, null);
  t.is(usage.memoryFailcnt, null);
});

test('splitCpu keeps the exact total', (t) => {
  t.deepEqual(splitCpu(1000, 3, 1), { userUs: 750, sysUs: 250 });
  t.deepEqual(splitCpu(1001, 1, 1), { userUs: 501, sysUs: 500 });
  t.deepEqual(splitCpu(5000, 0, 0), { userUs: 5000, sysUs: 0 });
});

// --- names and owners -----------------------------------------------------------------------------

test('parseStartTime reads field 22 after a comm with spaces and parentheses', (t) => {
  const stat = '1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000000 200 18446744073709551615';
  t.is(parseStartTime(stat), 987654);
  t.is(parseStartTime('garbage'), null);
  t.is(typeof processStartTime('self'), 'number');
});

test('sandbox names encode the owner pid and start time; liveness checks both', (t) => {
  const name = nextSandboxName();
  const match = SANDBOX_NAME.exec(name);
  t.truthy(match);
  t.is(Number(match![1]), process.pid);
  t.is(Number(match![2]), processStartTime('self') ?? -1);
  t.not(nextSandboxName(), name);
  t.true(ownerAlive(process.pid, Number(match![2])));
  t.false(ownerAlive(process.pid, Number(match![2]) + 1), 'a reused pid is not the owner');
  t.false(SANDBOX_NAME.test('sandbox-supervisor-12'));
  t.true(SUPERVISOR_NAME.test('sandbox-supervisor-12'));
  t.false(SANDBOX_NAME.test('sandbox-12-3'));
});
