// Property: the addon's launch(plan, onExit), given any NativePlan-shaped object — wrong types, NUL
// bytes, huge arrays, relative and '..' paths, bad fds, unknown mount ops — either throws a
// TypeError with a one-line "Expected ..." message, throws a launch failure (an Error with a
// stage), or launches a sandbox whose onExit is called once. It never crashes the process and
// never leaves a child or an fd behind.
//
// Kept safe by construction: the only program ever named is /bin/true; stdio is /dev/null; every
// host path a mount or the cgroup list can name is a scratch directory of this test or does not
// exist; id maps are the ones the library would write (or garbage the kernel rejects).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { native, type NativeSandboxEnd } from '../../lib/native.js';
import { MountOp, Namespace, type NativeMount, type NativePlan } from '../../lib/native-plan.js';
import { hostViewMounts } from '../../lib/rootfs/host-view.js';
import { buildSeccompProgram } from '../../lib/seccomp/index.js';
import { childrenOfThisProcess, openFdCount, waitFor } from '../helpers/host.js';
import { repoRoot, scratch } from '../fixtures/probes/harness.js';

const isRoot = process.getuid?.() === 0;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const hostId = (id: number) => (isRoot ? 65534 : id);

// Made at load: the arbitraries below name it.
const dir = scratch('plan-fuzz', 0o777);
mkdirSync(join(dir.path, 'sub'), { mode: 0o777 });
let devNull = -1;

test.before(() => {
  devNull = openSync('/dev/null', 'r+');
});
test.after.always(() => {
  if (devNull >= 0) closeSync(devNull);
  dir.remove();
});

/** The plan the library would build for `/bin/true` with default options (id maps as for 'single'). */
function basePlan(): NativePlan {
  const mounts: NativeMount[] = [
    ...hostViewMounts(1000, 1000, 'fuzz', 'none'),
    { op: MountOp.proc, src: '', dst: '/proc', data: '', flags: 0 },
    { op: MountOp.dev, src: '', dst: '/dev', data: '', flags: 0 },
    { op: MountOp.tmpfs, src: '', dst: '/tmp', data: 'mode=1777', flags: 0 },
    { op: MountOp.remountRo, src: '', dst: '/', data: '', flags: 0 },
  ];
  return {
    argv: ['/bin/true'],
    env: ['PATH=/usr/bin:/bin'],
    cwd: '/',
    hostname: 'fuzz',
    namespaces: Namespace.ipc | Namespace.uts | Namespace.cgroup | Namespace.net,
    uid: 1000,
    gid: 1000,
    uidMap: `1000 ${hostId(uid)} 1\n`,
    gidMap: `1000 ${hostId(gid)} 1\n`,
    parentWritesMaps: isRoot,
    deferRelease: false,
    mounts,
    rlimits: [{ resource: 4, soft: 0, hard: 0 }],
    seccomp: buildSeccompProgram('default'),
    stdio: [devNull, devNull, devNull],
    tty: false,
    cgroupFd: -1,
    cgroupProcs: [],
    netnsFd: -1,
  } as NativePlan;
}

// ---- hostile values ----
const nul = fc.string().map((s) => `${s}\0${s}`);
const path = fc.oneof(
  fc.constantFrom('/', '/fuzz', '/fuzz/a/b', '/tmp/x', '/proc', '/dev/x', '/etc/passwd', '//fuzz//c/', '/fuzz/./d'),
  fc.constantFrom('relative', '', '.', '..', '/..', '/fuzz/../../etc', '/a/..', 'a/../b', '/fuzz/...', '/x/..'),
  nul,
  fc.string().map((s) => `/fuzz/${s}`),
  fc.integer({ min: 4000, max: 70000 }).map((n) => `/${'a'.repeat(n)}`),
);
/** Host paths a mount may name: this test's scratch directories, or nothing that exists. */
const hostPath = () =>
  fc.constantFrom(dir.path, join(dir.path, 'sub'), '/nonexistent-plan-fuzz', 'relative', '', 'a\0b', '/x,y', join(dir.path, 'missing'));
const number = fc.oneof(
  fc.integer(),
  fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53, -(2 ** 31), 1e300, NaN, Infinity, -Infinity, 0.5, -0),
  fc.double(),
);
const value = fc.oneof(
  { weight: 3, arbitrary: fc.anything() },
  { weight: 1, arbitrary: nul },
  { weight: 1, arbitrary: number },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, true, false, [], {}, Buffer.alloc(0), Buffer.alloc(7), Buffer.alloc(8 * 5000)) },
  { weight: 1, arbitrary: fc.integer({ min: 60000, max: 70000 }).map((n) => new Array(n).fill('x')) },
  { weight: 1, arbitrary: fc.string({ minLength: 1 }).map((s) => [s, 1, null]) },
);

const mount = () =>
  fc.record({
    op: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -1, max: 13 }) }, { weight: 1, arbitrary: value }),
    src: fc.oneof({ weight: 4, arbitrary: hostPath() }, { weight: 1, arbitrary: value.filter((v) => typeof v !== 'string') }),
    dst: fc.oneof({ weight: 4, arbitrary: path }, { weight: 1, arbitrary: value }),
    data: fc.oneof(fc.constantFrom('', 'mode=1777', 'size=4k', 'size=1', 'bogus=1', 'hi\n'), nul, value),
    flags: fc.oneof(fc.integer({ min: 0, max: 7 }), value),
  });

/** A field replaced by a hostile value. Keys whose valid values could name host state are excluded. */
const FREE_KEYS = [
  'env',
  'cwd',
  'hostname',
  'namespaces',
  'uid',
  'gid',
  'parentWritesMaps',
  'deferRelease',
  'rlimits',
  'seccomp',
  'stdio',
  'tty',
  'cgroupFd',
  'netnsFd',
];
type Mutation = (plan: Record<string, unknown>) => void;
/** A mutation that prints as what it does when fast-check reports a counterexample. */
function named(what: () => string, fn: Mutation): Mutation {
  return Object.assign(fn, { [fc.toStringMethod]: what });
}
/** Short, and only when printed: some values are arrays of 70000 entries. */
const show = (v: unknown) =>
  Array.isArray(v) && v.length > 100
    ? `[${v.length} entries]`
    : typeof v === 'string' && v.length > 100
      ? `"${v.slice(0, 20)}..." (${v.length})`
      : fc.stringify(v).slice(0, 200);
/** A copy of the plan's mount list, whatever an earlier mutation left there. */
const mountsOf = (pl: Record<string, unknown>): unknown[] => (Array.isArray(pl.mounts) ? [...(pl.mounts as unknown[])] : []);
/** Valid changes: they keep the plan launchable, so both sides of the property get exercised. */
const benign: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant(
    named(
      () => 'unchanged',
      () => {},
    ),
  ),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).map((h) =>
    named(
      () => `hostname = ${h}`,
      (pl) => void (pl.hostname = h),
    ),
  ),
  fc.constantFrom('/', '/tmp', '/proc', '/fuzz-new-dir').map((c) =>
    named(
      () => `cwd = ${c}`,
      (pl) => void (pl.cwd = c),
    ),
  ),
  fc
    .array(
      fc.string().filter((e) => !e.includes('\0')),
      { maxLength: 5 },
    )
    .map((e) =>
      named(
        () => `env = ${show(e)}`,
        (pl) => void (pl.env = e),
      ),
    ),
  fc.boolean().map((b) =>
    named(
      () => `tty = ${b}`,
      (pl) => void (pl.tty = b),
    ),
  ),
  fc.constantFrom(0, Namespace.net, Namespace.ipc | Namespace.uts).map((n) =>
    named(
      () => `namespaces = ${n}`,
      (pl) => void (pl.namespaces = n),
    ),
  ),
  fc.constant(
    named(
      () => 'seccomp = null',
      (pl) => void (pl.seccomp = null),
    ),
  ),
  fc.constantFrom(0, 1, 3, 7).map((r) =>
    named(
      () => `rlimits = [${r}: 1000]`,
      (pl) => void (pl.rlimits = [{ resource: r, soft: 1000, hard: 1000 }]),
    ),
  ),
  fc.constantFrom(MountOp.tmpfs, MountOp.dir).map((op) =>
    named(
      () => `mount op ${op} on /fuzz`,
      (pl) =>
        void (pl.mounts = [...mountsOf(pl).slice(0, -1), { op, src: '', dst: '/fuzz', data: '', flags: 0 }, ...mountsOf(pl).slice(-1)]),
    ),
  ),
);

const hostile: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constantFrom(...FREE_KEYS), value).map(([k, v]) =>
    named(
      () => `${k} = ${show(v)}`,
      (pl) => void (pl[k] = v),
    ),
  ),
  fc.constantFrom(...Object.keys(basePlanShape())).map((k) =>
    named(
      () => `delete ${k}`,
      (pl) => void delete pl[k],
    ),
  ),
  fc.constantFrom('cwd', 'hostname').chain((k) =>
    path.map((v) =>
      named(
        () => `${k} = ${show(v)}`,
        (pl) => void (pl[k] = v),
      ),
    ),
  ),
  fc
    .oneof(
      fc.array(fc.string(), { maxLength: 4 }).map((a) => ['/bin/true', ...a]),
      fc.constantFrom([], [''], ['/bin/true\0x'], ['true'], ['/nonexistent-plan-fuzz']),
      value.filter((v) => !(Array.isArray(v) && v.length > 0 && typeof v[0] === 'string' && v.length < 60000)),
    )
    .map((v) =>
      named(
        () => `argv = ${show(v)}`,
        (pl) => void (pl.argv = v),
      ),
    ),
  fc.array(mount(), { maxLength: 6 }).map((ms) =>
    named(
      () => `mounts += ${show(ms)}`,
      (pl) => void (pl.mounts = [...mountsOf(pl), ...ms]),
    ),
  ),
  fc.tuple(fc.nat(30), mount()).map(([i, m]) =>
    named(
      () => `mounts[${i} % length] = ${show(m)}`,
      (pl) => {
        const ms = mountsOf(pl);
        ms[ms.length === 0 ? 0 : i % ms.length] = m;
        pl.mounts = ms;
      },
    ),
  ),
  fc.tuple(fc.constantFrom(MountOp.rootBind, MountOp.rootOverlay, MountOp.rootTmpfs), hostPath()).map(([op, src]) =>
    named(
      () => `root = op ${op} of ${show(src)}`,
      (pl) => void (pl.mounts = [{ op, src, dst: '/', data: '', flags: 0 }, ...mountsOf(pl).slice(1)]),
    ),
  ),
  fc
    .oneof(
      fc.constant([]),
      fc.array(mount(), { maxLength: 3 }),
      fc.constant(new Array(4097).fill({ op: 9, src: '', dst: '/d', data: '', flags: 0 })),
    )
    .map((ms) =>
      named(
        () => `mounts = ${show(ms)}`,
        (pl) => void (pl.mounts = ms),
      ),
    ),
  fc
    .array(
      fc.record({
        resource: fc.oneof(fc.integer({ min: -1, max: 20 }), value),
        soft: fc.oneof(fc.integer({ min: -2, max: 1e6 }), value),
        hard: fc.oneof(fc.integer({ min: -2, max: 1e6 }), value),
      }),
      { maxLength: 4 },
    )
    .map((rl) =>
      named(
        () => `rlimits = ${show(rl)}`,
        (pl) => void (pl.rlimits = rl),
      ),
    ),
  fc.tuple(fc.nat(2), fc.oneof(fc.constantFrom(-1, 3, 999, 65535, 2 ** 30, 1.5, NaN), value)).map(([i, fd]) =>
    named(
      () => `stdio[${i}] = ${show(fd)}`,
      (pl) => {
        const io = Array.isArray(pl.stdio) ? [...(pl.stdio as unknown[])] : [devNull, devNull, devNull];
        io[i] = fd;
        pl.stdio = io;
      },
    ),
  ),
  fc.oneof(fc.constant([]), fc.constantFrom(['relative'], [''], ['/nonexistent-plan-fuzz/cgroup.procs'], ['a\0b'], [1], 'x')).map((c) =>
    named(
      () => `cgroupProcs = ${show(c)}`,
      (pl) => void (pl.cgroupProcs = c),
    ),
  ),
  fc
    .tuple(
      fc.constantFrom('uidMap', 'gidMap'),
      fc.constantFrom(
        '',
        'garbage',
        '1000 1000',
        '1000 x 1\n',
        'a\0b',
        `1000 ${hostId(uid)} 1\n1001 ${hostId(uid)} 1\n`,
        'x'.repeat(70000),
      ),
    )
    .map(([k, v]) =>
      named(
        () => `${k} = ${show(v)}`,
        (pl) => void (pl[k] = v),
      ),
    ),
  fc.integer({ min: 1, max: 100 }).map((n) =>
    named(
      () => `seccomp = ${n} instructions of 0xff`,
      (pl) => void (pl.seccomp = Buffer.alloc(8 * n, 0xff)),
    ),
  ),
);

const mutation = fc.oneof({ weight: 2, arbitrary: benign }, { weight: 3, arbitrary: hostile });

function basePlanShape(): Record<string, unknown> {
  return {
    argv: 0,
    env: 0,
    cwd: 0,
    hostname: 0,
    namespaces: 0,
    uid: 0,
    gid: 0,
    uidMap: 0,
    gidMap: 0,
    parentWritesMaps: 0,
    deferRelease: 0,
    mounts: 0,
    rlimits: 0,
    seccomp: 0,
    stdio: 0,
    tty: 0,
    cgroupFd: 0,
    cgroupProcs: 0,
  };
}

interface Tally {
  typeErrors: number;
  launchErrors: number;
  launched: number;
}

/** Launches `plan`; resolves once whatever it started is reaped. Throws on a contract breach. */
async function attempt(plan: unknown, tally: Tally): Promise<void> {
  const addon = native();
  let calls = 0;
  let exited!: () => void;
  const done = new Promise<void>((r) => (exited = r));
  let pid: number;
  try {
    pid = addon.launch(
      plan as NativePlan,
      (_e: NativeSandboxEnd) => {
        calls++;
        exited();
      },
      () => {},
    ).pid;
  } catch (e) {
    if (e instanceof TypeError) {
      if (!/^Expected /.test(e.message) || e.message.includes('\n'))
        throw new Error(`TypeError not one line "Expected ...": ${JSON.stringify(e.message)}`);
      tally.typeErrors++;
      return;
    }
    const stage = (e as { stage?: unknown }).stage;
    if (!(e instanceof Error) || typeof stage !== 'string')
      throw new Error(`launch threw something other than a TypeError or a launch failure: ${String(e)}`);
    tally.launchErrors++;
    return;
  }
  tally.launched++;
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`launch returned pid ${pid}`);
  // A deferred init waits for release(); this test never lets it go on.
  if ((plan as { deferRelease?: unknown }).deferRelease === true) addon.release(pid, false);
  // No run is sent: a sandbox that could be built ends once it is.
  addon.finish(pid);
  const timer = setTimeout(() => addon.signal(pid, 9), 10_000);
  await done;
  clearTimeout(timer);
  await new Promise((r) => setImmediate(r));
  if (calls !== 1) throw new Error(`onExit called ${calls} times`);
}

test.serial('random plans: a one-line TypeError, a launch failure, or a sandbox that ends; no crash, no child, no fd left', async (t) => {
  // The first launch loads sandbox-init into a memfd the addon keeps: count fds after it.
  await attempt(basePlan(), { typeErrors: 0, launchErrors: 0, launched: 0 });
  const fdsBefore = openFdCount();
  // Children this worker had already (tsx's esbuild service) are not ours to count.
  const childrenBefore = new Set(childrenOfThisProcess());
  const newChildren = () => childrenOfThisProcess().filter((c) => !childrenBefore.has(c));
  const tally: Tally = { typeErrors: 0, launchErrors: 0, launched: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 2 }), async (muts) => {
      const plan = basePlan() as unknown as Record<string, unknown>;
      for (const m of muts) m(plan);
      await attempt(plan, tally);
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
  // Not a plan at all.
  for (const junk of [null, undefined, 1, 'plan', [], () => {}]) {
    t.throws(() => native().launch(junk as unknown as NativePlan, () => {}), { instanceOf: TypeError });
  }
  t.throws(() => native().launch(basePlan(), 'not a function' as unknown as () => void), { instanceOf: TypeError });
  t.log(`${tally.typeErrors} TypeErrors, ${tally.launchErrors} launch failures, ${tally.launched} launched`);
  t.true(tally.launched > 0 && tally.typeErrors > 0, 'both sides of the property were exercised');
  t.true(await waitFor(() => newChildren().length === 0, 5000), `children left: ${newChildren().join(' ')}`);
  t.true(await waitFor(() => openFdCount() <= fdsBefore, 5000), `fds: ${fdsBefore} before, ${openFdCount()} after`);
});

test.serial('hostile objects (throwing getters, Proxies, gigabytes by reference) in a memory-capped child', async (t) => {
  const plan = { ...basePlan(), seccomp: null, stdio: [0, 0, 0] };
  // RLIMIT_DATA: a regression that copies the shared strings dies at 2 GiB instead of taking the machine.
  const argv = ['--data=2147483648', process.execPath, join(repoRoot, 'test', 'fixtures', 'probes', 'hostile-plans.mjs'), repoRoot];
  const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn('prlimit', argv, { env: { ...process.env, BASE_PLAN: JSON.stringify(plan) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (c) => resolve({ code: c, out, err }));
  });
  t.is(code, 0, `the child died: ${err.slice(0, 2000)}`);
  const lines = out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { name: string; threw: boolean; ctor?: string; message?: string });
  t.is(lines.length, 10, out);
  for (const l of lines) {
    t.true(l.threw, `${l.name}: launched`);
    if (/getter|get trap/.test(l.name)) {
      // The caller's own exception comes through, not a second one thrown over it (fatal in N-API).
      t.regex(l.message ?? '', /^from a/, l.name);
    } else {
      t.is(l.ctor, 'TypeError', `${l.name}: ${l.message}`);
      t.regex(l.message ?? '', /^Expected [^\n]+$/, l.name);
    }
  }
});
