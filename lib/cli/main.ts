#!/usr/bin/env node
// The `sandbox` command. Exit statuses (docs/cli.md): the command's own; 128+N for signal N; 125 when
// the sandbox could not be set up (one line on stderr, no stack trace); 126 not executable; 127 not found.
// Only what `exec` needs is loaded up front; the Sandbox, help texts and `doctor` are imported lazily.
import { writeSync } from 'node:fs';
import { SandboxError } from '../errors.js';
import { parseExecArgs, parseRunArgs } from './args.js';
import { asSandboxError, type ExecIo, fail, runExec, SETUP_FAILED } from './exec.js';
import { noticeLine } from './notice.js';

/** Signals the CLI receives on behalf of the sandbox (the command runs in a session of its own, so a
 * terminal's ^C or a supervisor's SIGTERM reaches only us). */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'exec':
      return runExec(rest, parseExecArgs, localIo);
    case 'run':
      return runExec(rest, parseRunArgs, localIo);
    case 'image':
      return (await import('./image.js')).runImage(rest);
    case 'serve': {
      if (rest.includes('--exec')) return (await import('./exec-server.js')).runExecServer(rest);
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
      return fail(localIo, new SandboxError(`unknown command ${JSON.stringify(command)}; see 'sandbox --help'`, { stage: 'options' }));
  }
}

/** This process as the caller of its own run: its environment, directory, stdio and signals. */
const localIo: ExecIo = {
  env: process.env,
  cwd: undefined,
  stdio: (run) => run,
  write: async (fd, text) => writeLocal(fd, text),
  // One run, then this process exits: nothing is worth keeping warm.
  sandbox: async (options) => new (await import('../sandbox.js')).Sandbox({ ...options, idleTimeout: 0 }),
  onSignal(forward) {
    for (const signal of FORWARDED) process.on(signal, forward);
    return () => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };
  },
};

/**
 * Text on fd 1 or 2, written at once: process.stdout and process.stderr are made only when a write
 * would block (making one loads node:stream, ~2 ms of every `exec` start otherwise). A reader that
 * went away (`sandbox --help | head -1`) is no error.
 */
function writeLocal(fd: 1 | 2, text: string): void {
  try {
    writeSync(fd, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    const stream = fd === 1 ? process.stdout : process.stderr;
    stream.on('error', () => {});
    stream.write(text);
  }
}

function writeOut(text: string): void {
  writeLocal(1, text);
}

process.on('uncaughtException', (e) => {
  writeLocal(2, noticeLine(asSandboxError(e).message));
  process.exit(SETUP_FAILED);
});

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  async (e: unknown) => {
    process.exitCode = await fail(localIo, e);
  },
);
