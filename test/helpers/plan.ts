// The pure tests' way to the launch plan and to a run's limits: buildPlan with the inputs a
// launch would add (no fds, no seccomp), and limits with none set.
import { buildPlan } from '../../lib/build-plan.js';
import type { NativePlan } from '../../lib/native-plan.js';
import type { AppliedLimits } from '../../lib/result.js';
import type { ResolvedConfig } from '../../lib/validate.js';

export function planFor(cfg: ResolvedConfig, o: { callerUid?: number; cgroupEnforced?: boolean; argv?: string[] } = {}): NativePlan {
  const uid = o.callerUid ?? 0;
  return buildPlan({
    argv: o.argv ?? ['true'],
    cfg,
    stdio: [0, 1, 2],
    seccomp: null,
    cgroupFd: -1,
    cgroupProcs: [],
    cgroupEnforced: o.cgroupEnforced ?? true,
    netnsFd: -1,
    callerUid: uid,
    callerGid: uid,
  });
}

export const NO_LIMITS: AppliedLimits = {
  cpuQuota: null,
  memoryBytes: null,
  pids: null,
  timeLimitMs: null,
  wallTimeLimitMs: null,
  outputLimitBytes: null,
};
