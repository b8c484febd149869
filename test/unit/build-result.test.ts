// buildResult (lib/build-result.ts) without a kernel: the outcome precedence of docs/result.md (a
// limit the runner enforced, then the cgroup's OOM kills, then limits the figures exceed, then the
// wait status), and the figures' sources, on hand-made exit reports and cgroup usage.
import { constants } from 'node:os';
import test from 'ava';
import { buildResult, type Figures } from '../../lib/build-result.js';
import type { CgroupUsage } from '../../lib/cgroup/index.js';
import type { NativeRunEnd } from '../../lib/native.js';
import type { AppliedLimits } from '../../lib/result.js';
import { NO_LIMITS } from '../helpers/plan.js';

const { SIGKILL, SIGXCPU, SIGXFSZ, SIGSEGV } = constants.signals;

function exit(over: Partial<NativeRunEnd> = {}): NativeRunEnd {
  return {
    exitCode: 0,
    signal: null,
    error: null,
    startNs: 1_000_000_000,
    endNs: 1_250_000_000, // 250 ms
    treeUserUs: 20_000,
    treeSysUs: 5_000,
    treeMaxRssKb: 2048,
    commandExited: true,
    netnsEmpty: true,
    tmpfsBytes: 0,
    ...over,
  };
}

function usage(over: Partial<CgroupUsage> = {}): CgroupUsage {
  return {
    userUs: 41_000,
    sysUs: 12_000,
    cpuSource: 'cpu.stat',
    memoryPeakBytes: 8 << 20,
    memorySource: 'memory.peak',
    anonBytes: 6 << 20,
    fileBytes: 1 << 20,
    oomKills: 0,
    memoryFailcnt: null,
    ...over,
  };
}

function figures(over: Partial<Figures> = {}): Figures {
  return {
    exit: exit(),
    killedFor: null,
    usage: null,
    enforcement: 'rlimit',
    cgroup: null,
    limits: NO_LIMITS,
    noCgroupReason: null,
    fallbackWallMs: 999,
    stdout: null,
    stderr: null,
    outputBytes: { stdout: 0, stderr: 0 },
    ...over,
  };
}

const limits = (l: Partial<AppliedLimits>): AppliedLimits => ({ ...NO_LIMITS, ...l });

test('the wait status when no limit is involved: ok, nonzero-exit, signaled', (t) => {
  t.is(buildResult(figures()).outcome, 'ok');
  const failed = buildResult(figures({ exit: exit({ exitCode: 3 }) }));
  t.is(failed.outcome, 'nonzero-exit');
  t.is(failed.exitCode, 3);
  t.is(failed.signal, null);
  const segv = buildResult(figures({ exit: exit({ exitCode: null, signal: SIGSEGV }) }));
  t.is(segv.outcome, 'signaled');
  t.is(segv.signal, 'SIGSEGV');
  t.is(segv.exitCode, null, 'exitCode and signal are exclusive');
});

test('a limit the runner killed for wins over everything else, even an OOM kill and an exit status', (t) => {
  for (const killedFor of ['cpu-time-limit', 'wall-time-limit', 'output-limit', 'memory-limit'] as const) {
    const r = buildResult(
      figures({ killedFor, usage: usage({ oomKills: 1 }), exit: exit({ exitCode: null, signal: SIGKILL }), enforcement: 'cgroup2' }),
    );
    t.is(r.outcome, killedFor);
    t.is(r.signal, 'SIGKILL');
  }
});

test("the cgroup's OOM kill wins over limits read from the figures and over the wait status", (t) => {
  const r = buildResult(
    figures({
      usage: usage({ oomKills: 1, userUs: 10_000_000 }),
      limits: limits({ timeLimitMs: 1000 }),
      exit: exit({ exitCode: null, signal: SIGKILL }),
    }),
  );
  t.is(r.outcome, 'memory-limit');
  // Without the kernel's evidence a SIGKILL is just a signal.
  t.is(buildResult(figures({ exit: exit({ exitCode: null, signal: SIGKILL }) })).outcome, 'signaled');
});

test('CPU time over the limit (or SIGXCPU from RLIMIT_CPU), then wall time, then output, before the wait status', (t) => {
  // 20 + 5 ms of the tree's CPU without a cgroup: over a 10 ms limit, even with exit status 0.
  t.is(buildResult(figures({ limits: limits({ timeLimitMs: 10 }) })).outcome, 'cpu-time-limit');
  t.is(buildResult(figures({ limits: limits({ timeLimitMs: 26 }) })).outcome, 'ok');
  t.is(
    buildResult(figures({ limits: limits({ timeLimitMs: 1000 }), exit: exit({ exitCode: null, signal: SIGXCPU }) })).outcome,
    'cpu-time-limit',
  );
  // SIGXCPU without a time limit is the program's own signal.
  t.is(buildResult(figures({ exit: exit({ exitCode: null, signal: SIGXCPU }) })).outcome, 'signaled');
  // 250 ms of wall time over a 100 ms limit; CPU time is checked first.
  t.is(buildResult(figures({ limits: limits({ wallTimeLimitMs: 100 }), exit: exit({ exitCode: 1 }) })).outcome, 'wall-time-limit');
  t.is(buildResult(figures({ limits: limits({ wallTimeLimitMs: 100, timeLimitMs: 10 }) })).outcome, 'cpu-time-limit');
  // Output: SIGXFSZ (RLIMIT_FSIZE) or more bytes than the limit on either stream.
  const out = limits({ outputLimitBytes: 100 });
  t.is(buildResult(figures({ limits: out, exit: exit({ exitCode: null, signal: SIGXFSZ }) })).outcome, 'output-limit');
  t.is(buildResult(figures({ limits: out, outputBytes: { stdout: 0, stderr: 101 } })).outcome, 'output-limit');
  t.is(buildResult(figures({ limits: out, outputBytes: { stdout: 100, stderr: 100 } })).outcome, 'ok');
  t.is(
    buildResult(figures({ limits: limits({ outputLimitBytes: 100, wallTimeLimitMs: 100 }), outputBytes: { stdout: 500, stderr: 0 } }))
      .outcome,
    'wall-time-limit',
  );
});

test("init killed before the command ended: the command went with it (SIGKILL unless init's own signal says otherwise)", (t) => {
  const r = buildResult(figures({ exit: exit({ commandExited: false, exitCode: 0 }) }));
  t.is(r.outcome, 'signaled');
  t.is(r.signal, 'SIGKILL');
  t.is(r.exitCode, null);
  const term = buildResult(figures({ exit: exit({ commandExited: false }), initSignal: constants.signals.SIGTERM }));
  t.is(term.signal, 'SIGTERM');
});

test("figures: the run's cgroup's totals (init sits outside it), else the tree's rusage; wall time from init's clock, else the runner's", (t) => {
  const withCgroup = buildResult(figures({ usage: usage(), enforcement: 'cgroup2', cgroup: { dir: '/sys/fs/cgroup/x', via: 'caller' } }));
  t.is(withCgroup.userTimeMs, 41);
  t.is(withCgroup.sysTimeMs, 12);
  t.is(withCgroup.cpuTimeMs, 53);
  t.is(withCgroup.memoryPeakBytes, 8 << 20);
  t.deepEqual(withCgroup.sources, { cpuTime: 'cpu.stat', memoryPeak: 'memory.peak' });
  t.is(withCgroup.memoryAnonBytes, 6 << 20);
  t.is(withCgroup.cgroup, '/sys/fs/cgroup/x');
  t.is(withCgroup.cgroupVia, 'caller');
  t.is(withCgroup.wallTimeMs, 250);

  // No cgroup: the tree's rusage, and the tmpfs pages the run left count as memory.
  const bare = buildResult(figures({ exit: exit({ tmpfsBytes: 4096, startNs: 0 }) }));
  t.is(bare.cpuTimeMs, 25);
  t.is(bare.memoryPeakBytes, 2048 * 1024 + 4096);
  t.deepEqual(bare.sources, { cpuTime: 'rusage', memoryPeak: 'rusage' });
  t.is(bare.wallTimeMs, 999, "the runner's measure when init could not report the start");
  t.is(bare.memoryAnonBytes, null);
  t.is(bare.cgroup, null);

  // A cgroup without a peak (v2 before 5.19): rusage's peak, said so.
  const noPeak = buildResult(figures({ usage: usage({ memoryPeakBytes: null, memorySource: null }) }));
  t.deepEqual(noPeak.sources, { cpuTime: 'cpu.stat', memoryPeak: 'rusage' });
});

test('limits: as asked with a cgroup; without one, what stood in and what was not enforced at all', (t) => {
  const asked = limits({ cpuQuota: 0.5, memoryBytes: 64 << 20, timeLimitMs: 1000 });
  const enforced = buildResult(figures({ limits: asked, enforcement: 'cgroup2' }));
  t.deepEqual(enforced.limits, asked);
  t.deepEqual(enforced.limitFallbacks, []);
  const fallen = buildResult(figures({ limits: asked, noCgroupReason: 'cgroup v1: not writable' }));
  t.deepEqual(fallen.limitsRequested, asked);
  t.is(fallen.limits.cpuQuota, null, 'a quota nothing enforced is not claimed');
  t.is(fallen.limits.memoryBytes, 64 << 20);
  t.deepEqual(
    fallen.limitFallbacks.map((f) => [f.limit, f.instead]),
    [
      ['cpuQuota', null],
      ['memoryBytes', 'RLIMIT_AS'],
      ['timeLimitMs', 'RLIMIT_CPU'],
    ],
  );
});
