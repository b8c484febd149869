// `--meta FILE`: the run in isolate's meta-file format, so a judge can switch from isolate without
// rewriting its parser. One `key:value` per line; keys, units and messages as isolate(1) writes them
// (isolate.c final_stats/err/die, cg.c cg_stats):
//   time, time-wall  seconds with 3 decimals, milliseconds truncated ("%d.%03d")
//   max-rss, cg-mem  KiB; cg-mem only when a cgroup measured the run
//   cg-oom-killed:1  the cgroup recorded an OOM kill (isolate then reports the signal: status SG)
//   exitcode | exitsig, killed:1 (the sandbox killed the program), status RE|SG|TO|XX, message
import { constants } from 'node:os';
import type { SandboxError } from '../errors.js';
import type { RunResult } from '../result.js';

/** Formats a finished run (`result`) or a sandbox failure (`error`) as a meta file's text. */
export function formatMeta(result: RunResult | null, error: SandboxError | null): string {
  const lines: string[] = [];
  const put = (key: string, value: string | number): void => {
    lines.push(`${key}:${oneLine(String(value))}`);
  };

  if (result === null) {
    const status = execFailureStatus(error);
    if (status !== null) {
      // The command could not be executed (not found, not executable). isolate's box exits 127
      // after a failed execve and reports it as a run-time error; so do we, with the shell's code.
      put('exitcode', status);
      put('status', 'RE');
    } else {
      put('status', 'XX');
    }
    put('message', error?.message ?? 'Sandbox failed');
    return lines.join('\n') + '\n';
  }

  put('time', seconds(result.cpuTimeMs));
  put('time-wall', seconds(result.wallTimeMs));
  put('max-rss', kib(result.memoryPeakBytes));
  if (result.enforcement === 'cgroup2' || result.enforcement === 'cgroup1') put('cg-mem', kib(result.memoryPeakBytes));
  if (result.outcome === 'memory-limit') put('cg-oom-killed', 1);

  const signo = result.signal === null ? null : signalNumber(result.signal);
  // A limit the runner enforced: isolate kills the box, prints killed:1 and no exit status.
  const killedFor: Partial<Record<RunResult['outcome'], [string, string]>> = {
    'cpu-time-limit': ['TO', 'Time limit exceeded'],
    'wall-time-limit': ['TO', 'Time limit exceeded (wall clock)'],
    'output-limit': ['SG', 'Output limit exceeded'],
  };
  const verdict = killedFor[result.outcome];
  if (verdict !== undefined) {
    put('killed', 1);
    put('status', verdict[0]);
    put('message', verdict[1]);
  } else if (result.exitCode !== null) {
    put('exitcode', result.exitCode);
    if (result.exitCode !== 0) {
      put('status', 'RE');
      put('message', `Exited with error status ${result.exitCode}`);
    }
  } else if (signo !== null) {
    put('exitsig', signo);
    put('status', 'SG');
    put('message', `Caught fatal signal ${signo}`);
  } else {
    put('status', 'SG');
    put('message', `Caught fatal signal ${result.signal ?? 'of unknown number'}`);
  }
  return lines.join('\n') + '\n';
}

/** The shell's exit status for a command that could not be executed (127 not found, 126 otherwise), or null. */
export function execFailureStatus(error: SandboxError | null): 126 | 127 | null {
  if (error === null || error.stage !== 'exec') return null;
  return error.code === 'ENOENT' ? 127 : 126;
}

/** Signal name → number ("SIGKILL" → 9; "SIG34" → 34), or null when unknown. */
export function signalNumber(name: string): number | null {
  const known = (constants.signals as Record<string, number>)[name];
  if (known !== undefined) return known;
  const m = /^SIG(\d+)$/.exec(name);
  return m === null ? null : Number(m[1]);
}

function seconds(ms: number): string {
  const whole = Math.max(0, Math.trunc(ms));
  return `${Math.trunc(whole / 1000)}.${String(whole % 1000).padStart(3, '0')}`;
}

function kib(bytes: number): number {
  return Math.max(0, Math.floor(bytes / 1024));
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]+/g, ' ');
}

/** `sandbox exec`'s exit status for a finished run: the exit code, or 128+N for signal N (docs/cli.md). */
export function exitStatus(result: Pick<RunResult, 'exitCode' | 'signal'>): number {
  if (result.exitCode !== null) return result.exitCode;
  const signo = result.signal === null ? null : signalNumber(result.signal);
  // Unknown signal name: still a death by signal, never mistaken for success or a sandbox failure.
  return signo === null ? 255 : 128 + signo;
}
