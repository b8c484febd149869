// The one stderr line saying that limits asked for did not get a cgroup (CONTRACT.md: a fallback is
// said once, plainly). The reason comes from the cgroup layer (lib/cgroup/index.ts), which names
// what is in the way and the fix.
import type { SandboxOptions } from '../options.js';
import type { RunResult } from '../result.js';

/** The line for a run whose cgroup limits fell back, or null when nothing needs saying. */
export function limitFallbackLine(options: SandboxOptions, result: RunResult, reason: string): string | null {
  if (result.enforcement !== 'rlimit') return null;
  const asked: string[] = [];
  if (options.memory !== undefined) asked.push('--memory is an address-space rlimit');
  if (options.pids !== undefined) asked.push('--pids is a per-user process rlimit');
  if (options.cpuQuota !== undefined) asked.push('--cpus is not enforced');
  if (asked.length === 0) return null;
  return `sandbox: no cgroup for the limits (${asked.join(', ')}): ${reason}\n`;
}
