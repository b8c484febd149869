// What a run reports about its limits (RunResult.limits, limitsRequested, limitFallbacks) and the
// lines the CLI prints about them: pure functions, no kernel.
import test from 'ava';
import { limitKillLine, fallbackLine } from '../../lib/cli/report.js';
import { enforcedLimits } from '../../lib/enforced.js';
import type { AppliedLimits, RunResult } from '../../lib/result.js';
import { NO_LIMITS } from '../helpers/plan.js';

const none = NO_LIMITS;
const asked: AppliedLimits = {
  cpuQuota: 0.5,
  memoryBytes: 64 * 2 ** 20,
  pids: 32,
  timeLimitMs: 2000,
  wallTimeLimitMs: 5000,
  outputLimitBytes: 1024,
};

test('with a cgroup, the limits are enforced as asked and nothing fell back', (t) => {
  t.deepEqual(enforcedLimits(asked, null), { limits: asked, fallbacks: [] });
});

test('without a cgroup: the CPU quota is not enforced (null), the others have weaker stand-ins', (t) => {
  const { limits, fallbacks } = enforcedLimits(asked, 'no cgroup here');
  t.deepEqual(limits, { ...asked, cpuQuota: null });
  t.deepEqual(fallbacks, [
    { limit: 'cpuQuota', requested: 0.5, instead: null, reason: 'no cgroup here' },
    { limit: 'memoryBytes', requested: 64 * 2 ** 20, instead: 'RLIMIT_AS', reason: 'no cgroup here' },
    { limit: 'pids', requested: 32, instead: 'RLIMIT_NPROC', reason: 'no cgroup here' },
    { limit: 'timeLimitMs', requested: 2000, instead: 'RLIMIT_CPU', reason: 'no cgroup here' },
  ]);
  t.deepEqual(enforcedLimits(none, 'no cgroup here'), { limits: none, fallbacks: [] }, 'nothing asked, nothing to say');
});

const result = (over: Partial<RunResult>): RunResult => ({
  outcome: 'ok',
  exitCode: 0,
  signal: null,
  cpuTimeMs: 0,
  userTimeMs: 0,
  sysTimeMs: 0,
  wallTimeMs: 0,
  memoryPeakBytes: 0,
  memoryAnonBytes: null,
  memoryFileBytes: null,
  enforcement: 'cgroup1',
  limits: asked,
  limitsRequested: asked,
  limitFallbacks: [],
  sources: { cpuTime: 'rusage', memoryPeak: 'rusage' },
  stdout: null,
  stderr: null,
  ...over,
});

test('the limit-kill line names the limit and the figure', (t) => {
  t.is(
    limitKillLine(result({ outcome: 'memory-limit', memoryPeakBytes: 64 * 2 ** 20 - 4096 })),
    'memory limit 64 MiB exceeded (peak 64.0 MiB)',
  );
  t.is(limitKillLine(result({ outcome: 'cpu-time-limit', cpuTimeMs: 2004.4 })), 'CPU time limit 2 s exceeded (used 2.004 s)');
  t.is(limitKillLine(result({ outcome: 'wall-time-limit', wallTimeMs: 5001 })), 'wall time limit 5 s exceeded (ran 5.001 s)');
  t.is(limitKillLine(result({ outcome: 'output-limit' })), 'output limit 1 KiB exceeded on stdout or stderr');
  t.is(
    limitKillLine(
      result({ outcome: 'memory-limit', limitsRequested: { ...asked, memoryBytes: 1536 * 2 ** 20 }, memoryPeakBytes: 1536 * 2 ** 20 }),
    ),
    'memory limit 1.5 GiB exceeded (peak 1536.0 MiB)',
  );
  for (const outcome of ['ok', 'nonzero-exit', 'signaled'] as const) t.is(limitKillLine(result({ outcome })), null);
});

test('the fallback line names each flag, the value and what stood in, once', (t) => {
  const { limits, fallbacks } = enforcedLimits({ ...none, cpuQuota: 0.5, memoryBytes: 2 ** 26 }, 'cannot create cgroups');
  t.is(
    fallbackLine(result({ limits, limitFallbacks: fallbacks })),
    'limits not enforced as asked (cannot create cgroups): --cpus 0.5 not enforced; --memory 64 MiB as RLIMIT_AS (address space per process)',
  );
  t.is(fallbackLine(result({})), null);
});
