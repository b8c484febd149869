// What the CLI says about a finished run beyond its exit status: the requested limits that fell
// back (RunResult.limitFallbacks), the limit that killed the command, and why a rw bind may have
// refused a write. Each is one line for notice().
import { statSync } from 'node:fs';
import type { BindMount } from '../options.js';
import type { AppliedLimits, RunResult } from '../result.js';

const MiB = 1024 ** 2;

/** The CLI flag of each limit, for messages. */
const FLAG: Record<keyof AppliedLimits, string> = {
  cpuQuota: '--cpus',
  memoryBytes: '--memory',
  pids: '--pids',
  timeLimitMs: '--time-limit',
  wallTimeLimitMs: '--wall-time-limit',
  outputLimitBytes: '--output-limit',
};

const INSTEAD: Record<string, string> = {
  RLIMIT_AS: 'as RLIMIT_AS (address space per process)',
  RLIMIT_NPROC: 'as RLIMIT_NPROC (processes of the host user)',
  RLIMIT_CPU: 'as RLIMIT_CPU (CPU time per process)',
};

/** "limits not enforced as asked (REASON): --cpus 0.5 not enforced; --memory as RLIMIT_AS (...)", or null. */
export function fallbackLine(result: RunResult): string | null {
  const list = result.limitFallbacks;
  if (list.length === 0) return null;
  const parts = list.map(
    (f) => `${FLAG[f.limit]} ${limitText(f.limit, f.requested)} ${f.instead === null ? 'not enforced' : INSTEAD[f.instead]}`,
  );
  return `limits not enforced as asked (${list[0]!.reason}): ${parts.join('; ')}`;
}

/** "memory limit 64 MiB exceeded (peak 64.0 MiB)" for a run a limit ended, or null. */
export function limitKillLine(result: RunResult): string | null {
  const l = result.limitsRequested;
  switch (result.outcome) {
    case 'memory-limit':
      return `memory limit ${l.memoryBytes === null ? '' : `${limitText('memoryBytes', l.memoryBytes)} `}exceeded (peak ${(result.memoryPeakBytes / MiB).toFixed(1)} MiB)`;
    case 'cpu-time-limit':
      return `CPU time limit ${l.timeLimitMs === null ? '' : `${limitText('timeLimitMs', l.timeLimitMs)} `}exceeded (used ${seconds(result.cpuTimeMs)})`;
    case 'wall-time-limit':
      return `wall time limit ${l.wallTimeLimitMs === null ? '' : `${limitText('wallTimeLimitMs', l.wallTimeLimitMs)} `}exceeded (ran ${seconds(result.wallTimeMs)})`;
    case 'output-limit':
      return `output limit ${l.outputLimitBytes === null ? '' : `${limitText('outputLimitBytes', l.outputLimitBytes)} `}exceeded on stdout or stderr`;
    default:
      return null;
  }
}

function limitText(limit: keyof AppliedLimits, value: number): string {
  if (limit === 'memoryBytes' || limit === 'outputLimitBytes') return bytes(value);
  if (limit === 'timeLimitMs' || limit === 'wallTimeLimitMs') return seconds(value);
  return String(value);
}

function bytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', MiB],
    ['KiB', 1024],
  ] as const) {
    if (n >= size) return Number.isInteger(n / size) ? `${n / size} ${unit}` : `${(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

function seconds(ms: number): string {
  return `${Math.round(ms) / 1000} s`;
}

/**
 * For a run that did not end well: the first `:rw` bind that the host identity the sandbox maps to
 * cannot write (by the mode bits; ACLs are not read), as a hint line, or null.
 */
export function rwBindHint(binds: BindMount[], host: { uid: number; gid: number }, rootCaller: boolean): string | null {
  for (const b of binds) {
    if (b.rw !== true) continue;
    let st;
    try {
      st = statSync(b.src);
    } catch {
      continue;
    }
    const bit = st.uid === host.uid ? 0o200 : st.gid === host.gid ? 0o020 : 0o002;
    if ((st.mode & bit) !== 0) continue;
    const let_ = `let ${host.uid}:${host.gid} write there (chmod, chown or an ACL)`;
    const how = !rootCaller
      ? let_
      : st.uid !== 0
        ? `run with -u ${st.uid}:${st.gid} to write as its owner, or ${let_}`
        : `the sandbox never maps to host root: ${let_}, or chown it to a user and pass -u UID:GID`;
    return `hint: ${b.src} (bound rw at ${b.dst}) is owned by ${st.uid}:${st.gid} with mode ${(st.mode & 0o7777).toString(8)}, and the sandbox writes as host ${host.uid}:${host.gid}; ${how}`;
  }
  return null;
}
