// Runs the real `sandbox` CLI for end-to-end tests: dist/lib/sandbox-cli.cjs, the bundled bin, when
// built (npm test builds first), else lib/cli/main.ts through tsx; SANDBOX_CLI=/path/to/cli.js overrides.
// SANDBOX_CLI_VIA=server runs every cli() through the native client (dist/lib/sandbox) and a resident
// server (`sandbox serve --exec`, one per uid, started on first use and ended with the test process),
// so the same test files check the CLI both ways. cliSync() (probes made before tests register)
// always runs the Node CLI.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** The native client, the package's bin. */
export const client = join(root, 'dist/lib/sandbox');
/** Whether cli() goes through the client and a resident server. */
export const viaServer = process.env.SANDBOX_CLI_VIA === 'server';

export interface ExecServer {
  socket: string;
  process: ChildProcess;
  /** Its stderr so far (the start line, refusals). */
  log(): string;
}

/**
 * Starts `sandbox serve --exec` as uid `as` (default: ours) on a socket in a new 0700 directory of
 * that uid; resolves once it listens. Ended (SIGKILL) when this process exits, and by its idle timeout
 * should this process die first.
 */
export function startExecServer(as?: number, extra: string[] = []): Promise<ExecServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-exec-server-'));
  if (as !== undefined) chownSync(dir, as, as);
  const socket = join(dir, 'server.sock');
  const child = spawn(process.execPath, [built, 'serve', '--exec', socket, '--idle-timeout', '300', ...extra], {
    cwd: '/',
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(as === undefined ? {} : { uid: as, gid: as }),
  });
  const end = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', end);
  child.once('exit', () => process.off('exit', end));
  let text = '';
  return new Promise((done, fail) => {
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      text += s;
      if (!text.includes('serving sandbox exec on')) return;
      // The server does not keep the test process alive: it ends with it ('exit' above).
      child.unref();
      (child.stderr as unknown as { unref(): void }).unref();
      done({ socket, process: child, log: () => text });
    });
    child.once('exit', (code, signal) => fail(new Error(`sandbox serve --exec ended (${code ?? signal}): ${text}`)));
  });
}

const servers = new Map<number, Promise<ExecServer>>();
function serverFor(uid: number | undefined): Promise<ExecServer> {
  const key = uid ?? -1;
  let s = servers.get(key);
  if (s === undefined) {
    s = startExecServer(uid);
    servers.set(key, s);
  }
  return s;
}

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
export async function cli(args: string[], opts: CliOptions = {}): Promise<Ran> {
  const server = viaServer ? await serverFor(opts.as) : null;
  const [file, argv, via] =
    server === null
      ? [process.execPath, [...cliArgv, ...args], {}]
      : [client, args, { SANDBOX_SERVER: 'required', SANDBOX_SOCKET: server.socket }];
  return new Promise((done, fail) => {
    const child = spawn(file, argv, {
      cwd: root,
      env: { ...process.env, HOST_SECRET: 'must-not-leak', ...via, ...opts.env },
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
    if (child.stdin !== null) {
      // A run that ends before the input is written (it never read it) closes the pipe: EPIPE is its
      // choice, as for any command.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input ?? '');
    }
    const killer = opts.killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
    child.on('close', (status, signal) => {
      if (killer !== null) clearTimeout(killer);
      // A connection the server dropped: what it logged says why, in the failing assertion.
      if (server !== null && stderr.includes('the server ended before the run did')) stderr += `[server log]\n${server.log()}`;
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
