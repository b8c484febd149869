// What the CLI says about a finished run beyond its exit status: the requested limits that fell
// back (RunResult.limitFallbacks), the limit that killed the command, and why a rw bind may have
// refused a write. Each is one line for notice().
import { FOREIGN_ID_BASE } from '../image/owners.js';
import { type Stats, statSync } from 'node:fs';
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

/** The first `:rw` bind whose directory `writer` cannot write by its mode bits (ACLs are not read), and its stat. */
function refusingBind(binds: BindMount[], writer: { uid: number; gid: number } | null): { b: BindMount; st: Stats } | null {
  for (const b of binds) {
    if (b.rw !== true) continue;
    let st;
    try {
      st = statSync(b.src);
    } catch {
      continue;
    }
    const bit = writer === null ? 0o002 : st.uid === writer.uid ? 0o200 : st.gid === writer.gid ? 0o020 : 0o002;
    if ((st.mode & bit) === 0) return { b, st };
  }
  return null;
}

/**
 * For a run that did not end well: the first `:rw` bind that the host identity the sandbox maps to
 * cannot write, as a hint line, or null. `'image'`: a root caller's image run, whose user writes as
 * an id of the store's foreign range (lib/image/owners.ts), which owns no host directory.
 */
export function rwBindHint(binds: BindMount[], host: { uid: number; gid: number } | 'image', rootCaller: boolean): string | null {
  const found = refusingBind(binds, host === 'image' ? null : host);
  if (found === null) return null;
  const { b, st } = found;
  const owned = `${b.src} (bound rw at ${b.dst}) is owned by ${st.uid}:${st.gid} with mode ${(st.mode & 0o7777).toString(8)}`;
  if (host === 'image') {
    const how =
      st.uid === 0
        ? 'the sandbox never maps to host root: let others write there (chmod, an ACL), or chown it to a user and pass -u UID:GID'
        : `run with -u ${st.uid}:${st.gid} to write as its owner`;
    return `hint: ${owned}, and an image's user writes as host id ${FOREIGN_ID_BASE} + its uid inside (docs/images-run.md, "Identity"); ${how}`;
  }
  const let_ = `let ${host.uid}:${host.gid} write there (chmod, chown or an ACL)`;
  const how = !rootCaller
    ? let_
    : st.uid !== 0
      ? `run with -u ${st.uid}:${st.gid} to write as its owner, or ${let_}`
      : `the sandbox never maps to host root: ${let_}, or chown it to a user and pass -u UID:GID`;
  return `hint: ${owned}, and the sandbox writes as host ${host.uid}:${host.gid}; ${how}`;
}
