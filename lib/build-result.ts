// The program's fate as a RunResult. Precedence (docs/result.md, isolate's rule that limits are
// checked before the exit status): a limit the runner enforced, then kernel evidence (an OOM
// kill recorded by the cgroup), then limits exceeded by the figures, then the wait status.
import { constants } from 'node:os';
import type { CgroupUsage, CgroupVia } from './cgroup/index.js';
import { enforcedLimits } from './enforced.js';
import type { NativeRunEnd } from './native.js';
import type { AppliedLimits, Enforcement, FigureSources, Outcome, RunResult } from './result.js';

const signalNames: Record<number, string> = Object.fromEntries(Object.entries(constants.signals).map(([name, num]) => [num, name]));

export function signalName(signo: number): string {
  return signalNames[signo] ?? `SIG${signo}`;
}

export type LimitKill = 'cpu-time-limit' | 'wall-time-limit' | 'output-limit' | 'memory-limit';

export interface Figures {
  exit: NativeRunEnd;
  /** The signal that ended the sandbox's init when the run ended without init's report. */
  initSignal?: number | null;
  /** Why the runner killed the sandbox, if it did. */
  killedFor: LimitKill | null;
  usage: CgroupUsage | null;
  enforcement: Enforcement;
  /** The run's cgroup and how its parent was chosen; null without one. */
  cgroup: { dir: string; via: CgroupVia } | null;
  /** The limits as requested: the figures are judged against these, whatever enforced them. */
  limits: AppliedLimits;
  /** Why no cgroup enforced the run's limits (null: one did, or none was needed). */
  noCgroupReason?: string | null;
  /** Wall time in ms measured by the runner, used when init could not report the end. */
  fallbackWallMs: number;
  stdout: Buffer | null;
  stderr: Buffer | null;
  outputBytes: { stdout: number; stderr: number };
}

export function buildResult(f: Figures): RunResult {
  const { exit, usage, limits } = f;
  let exitCode = exit.exitCode;
  let signo = exit.signal;
  if (!exit.commandExited) {
    // init itself was killed (by us after a grace period): the command went with it.
    exitCode = null;
    signo = f.initSignal ?? constants.signals.SIGKILL;
  }
  const sources: FigureSources = {
    cpuTime: usage?.cpuSource ?? 'rusage',
    memoryPeak: usage?.memoryPeakBytes != null ? (usage.memorySource ?? 'rusage') : 'rusage',
  };
  // The run's cgroup holds its command's tree alone (init sits outside it).
  const userUs = usage ? usage.userUs : (exit.treeUserUs ?? 0);
  const sysUs = usage ? usage.sysUs : (exit.treeSysUs ?? 0);
  const rssKb = exit.treeMaxRssKb ?? 0;
  // tmpfs pages are memory a cgroup charges but rusage does not see: without a cgroup's peak, what
  // the run left in its tmpfs mounts counts too.
  const memoryPeakBytes = usage?.memoryPeakBytes != null ? usage.memoryPeakBytes : rssKb * 1024 + (exit.tmpfsBytes ?? 0);
  const wallTimeMs = exit.startNs > 0 && exit.endNs > 0 ? (exit.endNs - exit.startNs) / 1e6 : f.fallbackWallMs;
  const cpuTimeMs = (userUs + sysUs) / 1000;

  let outcome: Outcome;
  const sig = signo === null ? null : signalName(signo);
  if (f.killedFor !== null) outcome = f.killedFor;
  else if (usage !== null && usage.oomKills > 0) outcome = 'memory-limit';
  else if (limits.timeLimitMs !== null && (cpuTimeMs > limits.timeLimitMs || sig === 'SIGXCPU')) outcome = 'cpu-time-limit';
  else if (limits.wallTimeLimitMs !== null && wallTimeMs > limits.wallTimeLimitMs) outcome = 'wall-time-limit';
  else if (
    limits.outputLimitBytes !== null &&
    (sig === 'SIGXFSZ' || f.outputBytes.stdout > limits.outputLimitBytes || f.outputBytes.stderr > limits.outputLimitBytes)
  )
    outcome = 'output-limit';
  else if (sig !== null) outcome = 'signaled';
  else if (exitCode !== 0) outcome = 'nonzero-exit';
  else outcome = 'ok';

  return {
    outcome,
    exitCode: sig === null ? exitCode : null,
    signal: sig,
    cpuTimeMs: round3(cpuTimeMs),
    userTimeMs: round3(userUs / 1000),
    sysTimeMs: round3(sysUs / 1000),
    wallTimeMs: round3(wallTimeMs),
    memoryPeakBytes,
    memoryAnonBytes: usage?.anonBytes ?? null,
    memoryFileBytes: usage?.fileBytes ?? null,
    enforcement: f.enforcement,
    cgroup: f.cgroup?.dir ?? null,
    cgroupVia: f.cgroup?.via ?? null,
    ...honestLimits(limits, f.noCgroupReason ?? null),
    sources,
    stdout: f.stdout,
    stderr: f.stderr,
  };
}

function honestLimits(
  requested: AppliedLimits,
  noCgroupReason: string | null,
): Pick<RunResult, 'limits' | 'limitsRequested' | 'limitFallbacks'> {
  const { limits, fallbacks } = enforcedLimits(requested, noCgroupReason);
  return { limits, limitsRequested: requested, limitFallbacks: fallbacks };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
