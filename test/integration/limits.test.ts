// Limits and accounting through the real sandbox: a fork bomb, a memory bomb, an endless loop, an
// output flood; and no cgroup left behind. With a cgroup (root here: cgroup1; the v2 guest of
// test/vm/run.sh as root and as a delegated user: cgroup2) and without (rootless on this host: the
// rlimit fallback, which the result must say).
import test from 'ava';
import fs from 'node:fs';
import { runScoped } from '../helpers/scoped.js';

const MiB = 1 << 20;
const inGuest = process.env['VM_GUEST'] === '1';

interface Summary {
  outcome: string;
  exitCode: number | null;
  signal: string | null;
  enforcement: string;
  cpuTimeMs: number;
  memoryPeakBytes: number;
  memoryAnonBytes: number | null;
  memoryFileBytes: number | null;
  stdout: number | null;
  stdoutText: string | null;
  stderr: string | null;
}
interface Report {
  before: { mode: string | null; reason: string | null; count: number; files: number };
  after: { mode: string | null; count: number; files: number };
  forkbomb: Summary;
  memory: Summary;
  split: Summary;
  cpu: Summary;
  output: Summary;
  many: { runs: number; ok: number };
  aborted: string;
  warm: { memory: Summary; small: Summary; forkbomb: Summary; cpu: Summary; many: { runs: number; ok: number; other: string[] } };
  lagMaxMs: number;
}

let report: Report;

/** limits-main.mjs (or another helper) with args, alone in a scope of its own on v2: its JSON line. */
function scenarios(args: string[], script = 'limits-main.mjs'): Promise<unknown> {
  return runScoped(script, args);
}

let busy: { during: string; after: string; mode: string | null };
let unclosed: { pid: number; enforcement: string; held: number; parents: string[] };

test.before(async (t) => {
  t.timeout(inGuest ? 1_200_000 : 180_000);
  report = (await scenarios([inGuest ? '24' : '200'])) as Report;
  busy = (await scenarios(['busy'])) as typeof busy;
  unclosed = (await scenarios([], 'reserve-exit.mjs')) as typeof unclosed;
});

const cgroup = () => report.before.mode !== null;

test('the enforcement mode is reported, and a cgroup is used wherever one is writable', (t) => {
  t.log(`mode: ${report.before.mode ?? `rlimit (${report.before.reason})`}`);
  const expected = report.before.mode ?? 'rlimit';
  for (const r of [report.memory, report.cpu]) t.is(r.enforcement, expected);
  if (inGuest) t.is(report.before.mode, 'cgroup2', 'the v2 guest must use cgroup v2, as root and delegated');
  if (process.getuid?.() === 0 && !inGuest) t.is(report.before.mode, 'cgroup1', 'root on this v1 host uses cgroup v1');
});

test('a limited run after a sandbox without limits has ended gets its cgroup (v2 refuses controllers while that one runs)', (t) => {
  t.log(`while the unlimited one ran: ${busy.during}; after: ${busy.after}`);
  t.is(busy.after, busy.mode ?? 'rlimit');
  if (busy.mode === 'cgroup1') t.is(busy.during, 'cgroup1', 'v1 has no such rule');
});

test('a fork bomb under pids: 64 is contained and the host stays responsive', (t) => {
  const r = report.forkbomb;
  t.log(`${r.outcome}, forks ${r.stdoutText?.trim()}, event-loop lag max ${report.lagMaxMs.toFixed(1)} ms`);
  t.is(r.outcome, 'ok', r.stderr ?? '');
  const forks = Number(r.stdoutText);
  t.true(forks < 64, `at most 63 forks besides init and the command itself, got ${forks}`);
  t.true(forks > 0);
  t.true(report.lagMaxMs < 2000, 'the event loop kept running');
});

test("a memory bomb under memory: '64m' ends memory-limit with a peak near 64 MiB (cgroup), or fails its allocation (rlimit)", (t) => {
  const r = report.memory;
  t.log(`${r.outcome} ${r.signal ?? r.exitCode} peak ${(r.memoryPeakBytes / MiB).toFixed(1)} MiB [${r.enforcement}]`);
  if (cgroup()) {
    t.is(r.outcome, 'memory-limit');
    t.true(r.memoryPeakBytes >= 50 * MiB && r.memoryPeakBytes <= 70 * MiB, `peak ${r.memoryPeakBytes}`);
  } else {
    t.is(r.enforcement, 'rlimit');
    t.is(r.outcome, 'nonzero-exit');
    t.regex(r.stderr ?? '', /MemoryError/);
    t.true(r.memoryPeakBytes < 64 * MiB);
  }
});

test('the anon/file split is seen while the command runs, not read after its memory was freed', (t) => {
  const r = report.split;
  t.is(r.outcome, 'ok', r.stderr ?? '');
  if (r.enforcement === 'rlimit') {
    t.is(r.memoryAnonBytes, null, 'no cgroup, no memory.stat');
    return;
  }
  t.true((r.memoryAnonBytes ?? 0) >= 48 * MiB, `anon ${r.memoryAnonBytes}`);
  t.true((r.memoryAnonBytes ?? 0) <= r.memoryPeakBytes, `anon ${r.memoryAnonBytes} within the peak ${r.memoryPeakBytes}`);
  t.not(r.memoryFileBytes, null);
});

test('an endless loop under timeLimit: 1 ends cpu-time-limit near 1 s of CPU', (t) => {
  const r = report.cpu;
  t.log(`${r.outcome} ${r.signal} cpu ${r.cpuTimeMs} ms [${r.enforcement}]`);
  t.is(r.outcome, 'cpu-time-limit');
  if (cgroup()) t.true(r.cpuTimeMs >= 1000 && r.cpuTimeMs < 1500, `cpu ${r.cpuTimeMs}`);
  else t.true(r.cpuTimeMs >= 700 && r.cpuTimeMs < 2500, `cpu ${r.cpuTimeMs} (tick-sampled rusage)`);
});

test('an output flood under outputLimit: 1m ends output-limit with at most the limit captured', (t) => {
  const r = report.output;
  t.is(r.outcome, 'output-limit');
  t.true(r.stdout !== null && r.stdout <= MiB && r.stdout > MiB / 2, `captured ${r.stdout}`);
});

test('many limited runs, an aborted one: all correct, no cgroup left behind', (t) => {
  t.is(report.many.ok, report.many.runs);
  t.is(report.aborted, 'aborted');
  // Counted after the warm pool's close(): its cgroups made ahead of runs (there before) go too.
  t.is(report.after.count, 0, "this process's sandbox cgroups after its last run and close()");
  t.is(report.after.files, 0, 'fds of cgroup files after close()');
  if (cgroup()) {
    t.true(report.before.count > 0, 'the warm pool keeps cgroups made ahead of its runs');
    t.true(report.before.files > 0, 'with the files its runs join by open');
  }
});

test('a warm pool with limits never closed: its cgroups made ahead of runs go when its process ends', (t) => {
  t.log(`held ${unclosed.held} [${unclosed.enforcement}]`);
  if (unclosed.enforcement === 'rlimit') return t.is(unclosed.parents.length, 0);
  t.true(unclosed.held > 0, 'cgroups made ahead while the process ran');
  const own = new RegExp(`^sandbox-${unclosed.pid}-\\d+-\\d+$`);
  t.deepEqual(
    unclosed.parents.flatMap((p) => fs.readdirSync(p).filter((n) => own.test(n))),
    [],
    'none left after its exit',
  );
});

test('the same limits on warm sandboxes: memory, pids and CPU time enforced per run, each run with counters of its own', (t) => {
  const { memory, small, forkbomb, cpu, many } = report.warm;
  t.log(
    `memory ${memory.outcome} peak ${(memory.memoryPeakBytes / MiB).toFixed(1)} MiB, then true: peak ${(small.memoryPeakBytes / MiB).toFixed(2)} MiB cpu ${small.cpuTimeMs} ms; forks ${forkbomb.stdoutText?.trim()}; cpu ${cpu.outcome} ${cpu.cpuTimeMs} ms`,
  );
  t.is(cpu.outcome, 'cpu-time-limit');
  t.is(small.outcome, 'ok');
  t.is(forkbomb.outcome, 'ok', forkbomb.stderr ?? '');
  t.true(Number(forkbomb.stdoutText) > 0 && Number(forkbomb.stdoutText) < 64);
  t.is(many.ok, many.runs, many.other.join('; '));
  for (const r of [memory, small, forkbomb, cpu]) t.is(r.enforcement, report.before.mode ?? 'rlimit');
  if (cgroup()) {
    t.is(memory.outcome, 'memory-limit');
    t.true(memory.memoryPeakBytes >= 50 * MiB && memory.memoryPeakBytes <= 70 * MiB, `peak ${memory.memoryPeakBytes}`);
    t.true(small.memoryPeakBytes < 16 * MiB, `the next run's own peak: ${small.memoryPeakBytes}`);
    t.true(cpu.cpuTimeMs >= 1000 && cpu.cpuTimeMs < 1500, `cpu ${cpu.cpuTimeMs}`);
  } else {
    t.is(memory.outcome, 'nonzero-exit');
    t.regex(memory.stderr ?? '', /MemoryError/);
  }
});
