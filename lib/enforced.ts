// What a run's requested limits become when no usable cgroup is there: the honest RunResult.limits
// and the list of fallbacks (RunResult.limitFallbacks). The rlimits that stand in are set in
// lib/build-plan.ts (rlimits); this file says what they are worth.
import type { AppliedLimits, LimitFallback } from './result.js';

/** Without a cgroup: the limit's stand-in, or null when nothing enforces it. */
const STAND_IN: Partial<Record<keyof AppliedLimits, LimitFallback['instead']>> = {
  cpuQuota: null,
  memoryBytes: 'RLIMIT_AS',
  pids: 'RLIMIT_NPROC',
  timeLimitMs: 'RLIMIT_CPU',
};

/**
 * `requested` as enforced: unchanged with a cgroup (`noCgroupReason` null); otherwise each limit
 * a cgroup would have enforced is listed as a fallback, and dropped from the limits when nothing
 * stands in for it.
 */
export function enforcedLimits(
  requested: AppliedLimits,
  noCgroupReason: string | null,
): { limits: AppliedLimits; fallbacks: LimitFallback[] } {
  const limits = { ...requested };
  const fallbacks: LimitFallback[] = [];
  if (noCgroupReason === null) return { limits, fallbacks };
  for (const key of Object.keys(STAND_IN) as (keyof AppliedLimits)[]) {
    const value = requested[key];
    if (value === null) continue;
    const instead = STAND_IN[key]!;
    fallbacks.push({ limit: key, requested: value, instead, reason: noCgroupReason });
    if (instead === null) limits[key] = null;
  }
  return { limits, fallbacks };
}
