// RunResult: flat, JSON-ready, null rather than absent (docs/result.md).

export type Outcome =
  | 'ok'
  | 'nonzero-exit'
  | 'signaled'
  | 'cpu-time-limit'
  | 'wall-time-limit'
  | 'memory-limit'
  | 'output-limit';

export type Enforcement = 'cgroup2' | 'cgroup1' | 'rlimit';

/** The limits that were applied to a run; null where none was set. */
export interface AppliedLimits {
  cpuQuota: number | null;
  memoryBytes: number | null;
  pids: number | null;
  timeLimitMs: number | null;
  wallTimeLimitMs: number | null;
  outputLimitBytes: number | null;
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
  limits: AppliedLimits;
  sources: FigureSources;
  /** Captured output when stdout/stderr was 'pipe' (the default of run()); null otherwise. */
  stdout: Buffer | null;
  stderr: Buffer | null;
}
