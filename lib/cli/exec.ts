// `sandbox exec` and `sandbox run`: parse, run, report. The one implementation of both, whether the
// CLI runs it for itself (main.ts) or the resident server runs it for a client (exec-server.ts): the
// caller's side of it (environment, directory, stdio, signals, where text goes) is an ExecIo.
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { SandboxError, openFailure } from '../errors.js';
import type { RunOptions, SandboxOptions } from '../options.js';
import type { RunResult } from '../result.js';
import type { Sandbox, SandboxProcess } from '../sandbox.js';
import type { ExecInvocation } from './args.js';
import { execFailureStatus, exitStatus, formatMeta } from './meta.js';
import { noticeLine } from './notice.js';
import { fallbackLine, limitKillLine, rwBindHint } from './report.js';

/** Exit status when the sandbox could not be set up. */
export const SETUP_FAILED = 125;

/** The caller of a run: this process (main.ts), or a client of the server (exec-server.ts). */
export interface ExecIo {
  /** The caller's environment (`-e KEY` copies from it; TERM for -t). */
  env: NodeJS.ProcessEnv;
  /** The caller's working directory, for relative host paths; undefined: this process's. */
  cwd: string | undefined;
  /** The command's stdin, stdout and stderr where the options leave them to the caller. */
  stdio(run: RunOptions, tty: boolean): RunOptions;
  /** Writes text to the caller's stdout (1) or stderr (2). A reader that went away is no error. */
  write(fd: 1 | 2, text: string): Promise<void>;
  /** The Sandbox for these options (the server keeps one warm per configuration). */
  sandbox(options: SandboxOptions): Promise<Sandbox>;
  /** Calls forward with every signal the caller passes on, until the returned function is called. */
  onSignal(forward: (signal: NodeJS.Signals) => void): () => void;
}

export async function runExec(
  args: string[],
  parse: (args: string[], hostEnv: NodeJS.ProcessEnv, cwd?: string) => ExecInvocation,
  io: ExecIo,
): Promise<number> {
  let inv: ExecInvocation;
  try {
    inv = parse(args, io.env, io.cwd);
  } catch (e) {
    return fail(io, e);
  }
  if (inv.help) {
    const { execHelp } = await import('./help.js');
    await io.write(1, execHelp());
    return 0;
  }
  const notice = async (reason: string): Promise<void> => {
    if (!inv.output.quiet) await io.write(2, noticeLine(reason));
  };

  // Open the report files before the run: a bad path is a setup failure, and the command is not run.
  let metaFd: number | null = null;
  let resultFd: number | null = null;
  const report = async (fd: number | null, text: string): Promise<void> => {
    if (fd === 1) await io.write(1, text);
    else if (fd !== null) writeSync(fd, text);
  };
  try {
    if (inv.output.meta !== null) metaFd = openOutput(inv.output.meta, '--meta');
    if (inv.output.result !== null) resultFd = openOutput(inv.output.result, '--result');
  } catch (e) {
    await report(metaFd, formatMeta(null, asSandboxError(e)));
    closeQuietly(metaFd);
    return fail(io, e);
  }

  let handle: SandboxProcess | null = null;
  let pending: NodeJS.Signals | null = null;
  let result: RunResult;
  const stopForwarding = io.onSignal((signal) => {
    if (handle === null) pending = signal;
    else handle.kill(signal);
  });
  try {
    // `--rootfs FILE` (a tar, docker/podman save, OCI archive) is imported, then run as its image.
    if (inv.options.rootfs !== undefined && isFile(inv.options.rootfs)) {
      const { importForRun } = await import('./image.js');
      const { rootfs, ...rest } = inv.options;
      inv.options = { ...rest, image: await importForRun(rootfs, inv.output.quiet) };
    }
    const box = await io.sandbox(inv.options);
    // An image's flattened tree, where overlayfs is refused, is made before the run.
    if (inv.options.image !== undefined) await box.warm();
    handle = box.spawn(inv.command, io.stdio(inv.run, inv.options.tty === true));
    if (pending !== null) handle.kill(pending);
    result = await handle.result;
  } catch (e) {
    const error = asSandboxError(e);
    await report(metaFd, formatMeta(null, error));
    closeQuietly(metaFd);
    closeQuietly(resultFd);
    return fail(io, error);
  } finally {
    stopForwarding();
  }

  for (const line of [fallbackLine(result), limitKillLine(result)]) if (line !== null) await notice(line);
  if (result.outcome !== 'ok' && inv.options.binds!.some((b) => b.rw === true)) {
    const { hostIdentity } = await import('../build-plan.js');
    const uid = process.getuid?.() ?? 0;
    const host = hostIdentity(
      uid,
      process.getgid?.() ?? 0,
      inv.options.user === undefined ? null : { uid: inv.options.user.uid, gid: inv.options.user.gid ?? inv.options.user.uid },
    );
    const imageIds = uid === 0 && inv.options.image !== undefined && inv.options.user === undefined;
    const hint = rwBindHint(inv.options.binds!, imageIds ? 'image' : host, uid === 0);
    if (hint !== null) await notice(hint);
  }
  try {
    const json = resultJson(result);
    if (resultFd !== null) await report(resultFd, JSON.stringify(json, null, 2) + '\n');
    if (inv.output.json) await io.write(2, JSON.stringify(json) + '\n');
    await report(metaFd, formatMeta(result, null));
  } finally {
    closeQuietly(metaFd);
    closeQuietly(resultFd);
  }
  return exitStatus(result);
}

/** The RunResult as written by --result/--json: captured output is not part of it (stdout/stderr null). */
function resultJson(result: RunResult): RunResult {
  return { ...result, stdout: null, stderr: null };
}

/** A report file's fd; '-' is the caller's stdout (1, never closed). */
function openOutput(file: string, flag: string): number {
  if (file === '-') return 1;
  try {
    return openSync(file, 'w', 0o644);
  } catch (e) {
    throw openFailure(e, flag, file);
  }
}

function closeQuietly(fd: number | null): void {
  if (fd === null || fd <= 2) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export function asSandboxError(e: unknown): SandboxError {
  if (e instanceof SandboxError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new SandboxError(`internal error: ${message}`, { stage: 'internal', cause: e });
}

/** Reports a failure in one line on the caller's stderr and returns the exit status: 126/127 for a
 * command that could not be executed, 125 for anything else. */
export async function fail(io: Pick<ExecIo, 'write'>, e: unknown): Promise<number> {
  const error = asSandboxError(e);
  await io.write(2, noticeLine(error.message || 'unknown error'));
  return execFailureStatus(error) ?? SETUP_FAILED;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
