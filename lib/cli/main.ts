#!/usr/bin/env node
// The `sandbox` command. Exit statuses (docs/cli.md): the command's own; 128+N for signal N; 125 when
// the sandbox could not be set up (one line on stderr, no stack trace); 126 not executable; 127 not found.
// Only what `exec` needs is loaded up front; the Sandbox, help texts and `doctor` are imported lazily.
import { closeSync, openSync, writeSync } from 'node:fs';
import { SandboxError, openFailure } from '../errors.js';
import type { RunResult } from '../result.js';
import type { SandboxProcess } from '../sandbox.js';
import { parseExecArgs, parseRunArgs, type ExecInvocation } from './args.js';
import { execFailureStatus, exitStatus, formatMeta } from './meta.js';
import { notice, setQuiet } from './notice.js';
import { fallbackLine, limitKillLine, rwBindHint } from './report.js';

/** Signals the CLI receives on behalf of the sandbox (the command runs in a session of its own, so a
 * terminal's ^C or a supervisor's SIGTERM reaches only us). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Exit status when the sandbox could not be set up. */
const SETUP_FAILED = 125;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'exec':
      return exec(rest, parseExecArgs);
    case 'run':
      return exec(rest, parseRunArgs);
    case 'image':
      return (await import('./image.js')).runImage(rest);
    case 'serve': {
      const [{ runServe }, { versionText }] = await Promise.all([import('./serve.js'), import('./help.js')]);
      return runServe(
        rest,
        versionText()
          .trim()
          .replace(/^sandbox /, ''),
      );
    }
    case 'worker':
      return (await import('./worker.js')).runWorker(rest);
    case 'doctor': {
      const { runDoctor } = await import('./doctor.js');
      return runDoctor(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help': {
      const { execHelp, MAIN_HELP } = await import('./help.js');
      writeOut(rest[0] === 'exec' || rest[0] === 'run' ? execHelp() : MAIN_HELP);
      return 0;
    }
    case '--version':
    case 'version': {
      const { versionText } = await import('./help.js');
      writeOut(versionText());
      return 0;
    }
    default:
      return fail(new SandboxError(`unknown command ${JSON.stringify(command)}; see 'sandbox --help'`, { stage: 'options' }));
  }
}

async function exec(args: string[], parse: (args: string[]) => ExecInvocation): Promise<number> {
  let inv: ExecInvocation;
  try {
    inv = parse(args);
  } catch (e) {
    return fail(e);
  }
  if (inv.help) {
    const { execHelp } = await import('./help.js');
    writeOut(execHelp());
    return 0;
  }
  setQuiet(inv.output.quiet);

  // Open the report files before the run: a bad path is a setup failure, and the command is not run.
  let metaFd: number | null = null;
  let resultFd: number | null = null;
  try {
    if (inv.output.meta !== null) metaFd = openOutput(inv.output.meta, '--meta');
    if (inv.output.result !== null) resultFd = openOutput(inv.output.result, '--result');
  } catch (e) {
    writeReport(metaFd, formatMeta(null, asSandboxError(e)));
    closeQuietly(metaFd);
    return fail(e);
  }

  let handle: SandboxProcess | null = null;
  let pending: NodeJS.Signals | null = null;
  const forward = (signal: NodeJS.Signals): void => {
    if (handle === null) pending = signal;
    else handle.kill(signal);
  };
  let result: RunResult;
  for (const signal of FORWARDED) process.on(signal, forward);
  try {
    const { Sandbox } = await import('../sandbox.js');
    const box = new Sandbox(inv.options);
    // An image's flattened tree, where overlayfs is refused, is made before the run.
    if (inv.options.image !== undefined) await box.warm();
    handle = box.spawn(inv.command, inv.run);
    if (pending !== null) handle.kill(pending);
    result = await handle.result;
  } catch (e) {
    const error = asSandboxError(e);
    writeReport(metaFd, formatMeta(null, error));
    closeQuietly(metaFd);
    closeQuietly(resultFd);
    return fail(error);
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
  }

  for (const line of [fallbackLine(result), limitKillLine(result)]) if (line !== null) notice(line);
  if (result.outcome !== 'ok' && inv.options.binds!.some((b) => b.rw === true)) {
    const { hostIdentity } = await import('../plan.js');
    const uid = process.getuid?.() ?? 0;
    const host = hostIdentity(
      uid,
      process.getgid?.() ?? 0,
      inv.options.user === undefined ? null : { uid: inv.options.user.uid, gid: inv.options.user.gid ?? inv.options.user.uid },
    );
    const hint = rwBindHint(inv.options.binds!, host, uid === 0);
    if (hint !== null) notice(hint);
  }
  try {
    const json = resultJson(result);
    if (resultFd !== null) writeReport(resultFd, JSON.stringify(json, null, 2) + '\n');
    if (inv.output.json) process.stderr.write(JSON.stringify(json) + '\n');
    writeReport(metaFd, formatMeta(result, null));
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

/** Help and version text. process.stdout is touched only here: making it loads node:stream (~2 ms of
 * every `exec` start otherwise). A reader that went away (`sandbox --help | head -1`) is no error. */
function writeOut(text: string): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  process.stdout.write(text);
}

/** A report file's fd; '-' is stdout (fd 1, written to and never closed). */
function openOutput(file: string, flag: string): number {
  if (file === '-') return 1;
  try {
    return openSync(file, 'w', 0o644);
  } catch (e) {
    throw openFailure(e, flag, file);
  }
}

function writeReport(fd: number | null, text: string): void {
  if (fd !== null) writeSync(fd, text);
}

function closeQuietly(fd: number | null): void {
  if (fd === null || fd <= 2) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function asSandboxError(e: unknown): SandboxError {
  if (e instanceof SandboxError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new SandboxError(`internal error: ${message}`, { stage: 'internal', cause: e });
}

/** Reports a failure in one line on stderr and returns the exit status: 126/127 for a command that
 * could not be executed, 125 for anything else. */
function fail(e: unknown): number {
  const error = asSandboxError(e);
  const line = error.message
    .split(/\r?\n|\r|\u2028|\u2029/)
    .filter((s) => s.trim() !== '')
    .join(' ');
  process.stderr.write(`sandbox: ${line || 'unknown error'}\n`);
  return execFailureStatus(error) ?? SETUP_FAILED;
}

process.on('uncaughtException', (e) => {
  fail(e);
  process.exit(SETUP_FAILED);
});

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (e: unknown) => {
    process.exitCode = fail(e);
  },
);
