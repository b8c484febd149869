// Limit values: checked and formatted in one place, for both cgroup versions.
import { optionError } from '../errors.js';
import type { CgroupLimits } from './types.js';

/** CFS period for CPU bandwidth control (the kernel's default, 100 ms). */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas below 1 ms (kernel/sched/core.c: min_cfs_quota_period / tg_set_cfs_bandwidth). */
export const CPU_MIN_QUOTA_US = 1_000;

/** Throws a SandboxError (stage 'options') for a value no cgroup file would accept. */
export function checkLimits(limits: CgroupLimits): void {
  const { cpuQuota, memoryBytes, pids } = limits;
  if (cpuQuota !== null && !(typeof cpuQuota === 'number' && Number.isFinite(cpuQuota) && cpuQuota > 0)) {
    throw optionError('cpuQuota', 'a positive number of cores', cpuQuota);
  }
  if (memoryBytes !== null && !(Number.isSafeInteger(memoryBytes) && memoryBytes > 0)) {
    throw optionError('memoryBytes', 'a positive integer number of bytes', memoryBytes);
  }
  if (pids !== null && !(Number.isSafeInteger(pids) && pids > 0)) {
    throw optionError('pids', 'a positive integer', pids);
  }
}

/** Cores → µs of CPU per period, rounded, at least the kernel's minimum. */
export function cpuQuotaUs(cores: number, periodUs = CPU_PERIOD_US): number {
  return Math.max(CPU_MIN_QUOTA_US, Math.round(cores * periodUs));
}

/** v2 cpu.max: "$MAX $PERIOD" (Documentation/admin-guide/cgroup-v2.rst). */
export function formatCpuMax(cores: number | null, periodUs = CPU_PERIOD_US): string {
  return `${cores === null ? 'max' : cpuQuotaUs(cores, periodUs)} ${periodUs}`;
}

/** memory.max, memory.limit_in_bytes, pids.max, cpu.cfs_quota_us: a plain integer. */
export function formatCount(value: number): string {
  return String(Math.trunc(value));
}
