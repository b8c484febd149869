// RunResult: flat, JSON-ready, null rather than absent (docs/result.md).
import type { CgroupVia } from './cgroup/types.js';

export type Outcome = 'ok' | 'nonzero-exit' | 'signaled' | 'cpu-time-limit' | 'wall-time-limit' | 'memory-limit' | 'output-limit';

export type Enforcement = 'cgroup2' | 'cgroup1' | 'rlimit';

/**
 * Limits by name. In RunResult.limits: the limits that were enforced, null where none was set or a
 * set one could not be enforced (see limitFallbacks); in RunResult.limitsRequested: as asked.
 */
export interface AppliedLimits {
  cpuQuota: number | null;
  memoryBytes: number | null;
  pids: number | null;
  timeLimitMs: number | null;
  wallTimeLimitMs: number | null;
  outputLimitBytes: number | null;
}

/**
 * A requested limit that was not enforced as asked, because no usable cgroup was there (`reason`).
 * `instead` is the weaker rlimit that stood in for it, or null when nothing did (the limit is then
 * null in RunResult.limits). See docs/cli.md "Honest limits".
 */
export interface LimitFallback {
  limit: keyof AppliedLimits;
  requested: number;
  /**
   * RLIMIT_AS: address space per process (not resident memory of the tree); RLIMIT_NPROC:
   * processes of the host user the sandbox maps to (not of the sandbox alone); RLIMIT_CPU: CPU
   * time per process (the tree's total is only checked after the end); null: not enforced at all.
   */
  instead: 'RLIMIT_AS' | 'RLIMIT_NPROC' | 'RLIMIT_CPU' | null;
  /** Why the cgroup limit could not be used, e.g. "cgroup v1: no permission to create ...". */
  reason: string;
}

/** Where each figure came from, so a judge knows how far to trust it. */
export interface FigureSources {
  cpuTime: 'cpu.stat' | 'cpuacct.stat' | 'cpuacct.usage' | 'rusage';
  memoryPeak: 'memory.peak' | 'memory.max_usage_in_bytes' | 'rusage';
}

export interface RunResult {
  outcome: Outcome;
  exitCode: number | null;
  signal: string | null;
  cpuTimeMs: number;
  userTimeMs: number;
  sysTimeMs: number;
  wallTimeMs: number;
  memoryPeakBytes: number;
  /** Memory split where the kernel tells (cgroup memory.stat: the largest sample while the command ran); null otherwise. */
  memoryAnonBytes: number | null;
  memoryFileBytes: number | null;
  enforcement: Enforcement;
  /** The run's cgroup directory (removed after the run; v1: the first of its hierarchies); null under rlimits. */
  cgroup: string | null;
  /** How its parent was chosen (docs/cgroups-v2.md); null under rlimits. */
  cgroupVia: CgroupVia | null;
  /** The limits that were enforced: null where none was set, or where one set was not enforced at all. */
  limits: AppliedLimits;
  /** The limits as asked by the options. */
  limitsRequested: AppliedLimits;
  /** The requested limits that were enforced otherwise than asked, or not at all; [] when none. */
  limitFallbacks: LimitFallback[];
  sources: FigureSources;
  /** Captured output when stdout/stderr was 'pipe' (the default of run()); null otherwise. */
  stdout: Buffer | null;
  stderr: Buffer | null;
}
