// Runs the real `sandbox` CLI for end-to-end tests: dist/lib/sandbox-cli.cjs, the bundled bin, when
// built (npm test builds first), else lib/cli/main.ts through tsx; SANDBOX_CLI=/path/to/cli.js overrides.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = join(root, 'dist/lib/sandbox-cli.cjs');
const cliArgv: string[] = process.env.SANDBOX_CLI
  ? [process.env.SANDBOX_CLI]
  : existsSync(built)
    ? [built]
    : ['--import', 'tsx', join(root, 'lib/cli/main.ts')];

export interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  onStdout?: (pid: number, soFar: string) => void;
  /** Written to the CLI's stdin (a pipe), which is then closed; 'null': stdin is /dev/null. */
  input?: string | 'null';
  env?: NodeJS.ProcessEnv;
  /** Kills the CLI (SIGKILL) after this long: a hang ends as signal SIGKILL rather than a stuck test. */
  killAfterMs?: number;
  /** Runs the CLI as this uid and gid (the test runs as root). */
  as?: number;
}

/** Runs `sandbox ARGS...` with a host environment holding a secret that must not leak in. */
export function cli(args: string[], opts: CliOptions = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...cliArgv, ...args], {
      cwd: root,
      env: { ...process.env, HOST_SECRET: 'must-not-leak', ...opts.env },
      stdio: [opts.input === 'null' ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(opts.as === undefined ? {} : { uid: opts.as, gid: opts.as }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      opts.onStdout?.(child.pid!, stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', fail);
    if (child.stdin !== null) child.stdin.end(opts.input ?? '');
    const killer = opts.killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
    child.on('close', (status, signal) => {
      if (killer !== null) clearTimeout(killer);
      done({ status, signal, stdout, stderr });
    });
  });
}

/** `sandbox ARGS...` synchronously (for what a test file must know before it registers its tests). */
export function cliSync(args: string[]): Ran {
  const r = spawnSync(process.execPath, [...cliArgv, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** stderr is exactly one line `sandbox: ...`, with no stack trace, matching `pattern`. */
export function oneLine(t: ExecutionContext, stderr: string, pattern?: RegExp): void {
  const lines = stderr.split('\n');
  t.is(lines.length, 2, `exactly one line on stderr, got ${JSON.stringify(stderr)}`);
  t.is(lines[1], '');
  t.regex(lines[0]!, /^sandbox: \S/);
  t.notRegex(stderr, /\n\s+at /, 'no stack trace');
  if (pattern) t.regex(lines[0]!, pattern);
}
