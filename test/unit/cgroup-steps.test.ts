// The two interpreters of a cgroup's steps give the same results and leave the same state:
// csrc/cgroupfs.cc's run_steps (the addon, what runs) and lib/cgroup/steps.ts's runStepsHere (node:fs,
// for when the addon does not load). What is compared is the interpreting (results, the undoing of a
// failed list); single reads and writes go through the addon in both while it loads (files.ts). On a
// temporary directory and /dev/full: no cgroupfs needed.
import fs from 'node:fs';
import os, { constants } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { type CgroupStep, runSteps, runStepsHere, type StepResults } from '../../lib/cgroup/steps.js';
import { fastIo } from '../../lib/cgroup/files.js';

const { ENOENT, EEXIST, ENOSPC, EBADF, ENOTDIR } = constants.errno;

/** Cases as functions of a fresh base directory (holding a file "f" with "text\n"). */
const CASES: Record<string, (d: string) => CgroupStep[]> = {
  'a made directory, a write to a missing file: undone': (d) => [
    { kind: 'mkdir', path: `${d}/a` },
    { kind: 'write', path: `${d}/a/missing`, text: '1' },
    { kind: 'mkdir', path: `${d}/never` },
  ],
  'optional and best-effort writes, reads, rmdir of nothing: no end': (d) => [
    { kind: 'mkdir', path: `${d}/b` },
    { kind: 'write', path: `${d}/b/absent`, text: 'x', optional: true },
    { kind: 'write', path: '/dev/full', text: 'x', bestEffort: true },
    { kind: 'read', path: `${d}/f` },
    { kind: 'read', path: `${d}/absent` },
    { kind: 'rmdir', path: `${d}/absent` },
    { kind: 'write', path: `${d}/f`, text: 'new' },
    { kind: 'open', path: `${d}/b` },
  ],
  'a value the kernel refuses (+errno): fds closed, directories removed': (d) => [
    { kind: 'mkdir', path: `${d}/c` },
    { kind: 'mkdir', path: `${d}/c/d` },
    { kind: 'open', path: `${d}/c` },
    { kind: 'open-w', path: '/dev/full' },
    { kind: 'write', path: '/dev/full', text: '5' },
    { kind: 'mkdir', path: `${d}/after` },
  ],
  'mkdir of what exists, open of a file as a directory': (d) => [
    { kind: 'mkdir', path: `${d}/f` },
    { kind: 'open', path: `${d}/f` },
  ],
  'open of a file as a directory ends the list': (d) => [
    { kind: 'mkdir', path: `${d}/e` },
    { kind: 'open', path: `${d}/f` },
  ],
  'close of an fd that is not open, rmdir of a made directory': (d) => [
    { kind: 'mkdir', path: `${d}/g` },
    { kind: 'close', path: '', text: '999999' },
    { kind: 'rmdir', path: `${d}/g` },
  ],
};

function fresh(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-steps-'));
  fs.writeFileSync(`${d}/f`, 'text\n');
  return d;
}

/** What a directory holds, recursively, with file contents: the state the steps left. */
function state(d: string): string[] {
  return (fs.readdirSync(d, { recursive: true, encoding: 'utf8' }) as string[])
    .sort()
    .map((p) => (fs.statSync(path.join(d, p)).isDirectory() ? `${p}/` : `${p}=${fs.readFileSync(path.join(d, p), 'utf8')}`));
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * fds are whatever number the process had free: "fd" for one the list left open (then closed
 * here), "closed fd" for one its undoing closed.
 */
function normal(steps: CgroupStep[], results: StepResults): (number | string | null)[] {
  return results.map((r, i) => {
    const k = steps[i]!.kind;
    if ((k === 'open' || k === 'open-w') && typeof r === 'number' && r > 0) {
      if (!isOpen(r)) return 'closed fd';
      fs.closeSync(r);
      return 'fd';
    }
    return r;
  });
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

// Without the addon (not built) there is one interpreter only: skipped here, a failure in CI.
const haveAddon = fastIo() !== null || process.env.CI === 'true';
for (const [name, make] of Object.entries(CASES)) {
  (haveAddon ? test : test.skip)(`the addon and node:fs agree: ${name}`, (t) => {
    const [a, b] = [fresh(), fresh()];
    try {
      const before = openFds();
      const stepsA = make(a);
      const stepsB = make(b);
      const byAddon = normal(stepsA, runSteps(stepsA));
      const byNode = normal(stepsB, runStepsHere(stepsB));
      t.is(openFds(), before, 'no fd left open by either');
      t.deepEqual(byNode, byAddon);
      t.deepEqual(state(b), state(a));
    } finally {
      fs.rmSync(a, { recursive: true, force: true });
      fs.rmSync(b, { recursive: true, force: true });
    }
  });
}

test('the results the cases above compare are the documented ones (csrc/cgroupfs.cc)', (t) => {
  const d = fresh();
  try {
    const r = (steps: CgroupStep[]) => normal(steps, runStepsHere(steps));
    t.deepEqual(r(CASES['a made directory, a write to a missing file: undone']!(d)), [0, -ENOENT, null]);
    t.false(fs.existsSync(`${d}/a`));
    t.deepEqual(r(CASES['optional and best-effort writes, reads, rmdir of nothing: no end']!(d)), [0, 0, 0, 'text\n', -ENOENT, 0, 0, 'fd']);
    t.deepEqual(r(CASES['a value the kernel refuses (+errno): fds closed, directories removed']!(d)), [
      0,
      0,
      'closed fd',
      'closed fd',
      ENOSPC,
      null,
    ]);
    t.false(fs.existsSync(`${d}/c`));
    t.deepEqual(r(CASES['mkdir of what exists, open of a file as a directory']!(d)), [-EEXIST, null]);
    t.deepEqual(r(CASES['open of a file as a directory ends the list']!(d)), [0, -ENOTDIR]);
    t.false(fs.existsSync(`${d}/e`));
    t.deepEqual(r(CASES['close of an fd that is not open, rmdir of a made directory']!(d)), [0, -EBADF, 0]);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});
