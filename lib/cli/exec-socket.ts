// Where this user's `sandbox serve --exec` listens by default, and the checks on its directory. The
// native client (csrc/client/client.c) makes the same choice: $SANDBOX_SOCKET; else
// $XDG_RUNTIME_DIR/sandbox/server.sock; else /tmp/sandbox-UID/server.sock.
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SANDBOX_SOCKET) return env.SANDBOX_SOCKET;
  return join(socketDir(env), 'server.sock');
}

function socketDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_RUNTIME_DIR;
  return xdg?.startsWith('/') ? join(xdg, 'sandbox') : `/tmp/sandbox-${process.getuid?.() ?? 0}`;
}

/**
 * Makes the default socket's directory (mode 0700) and checks that it is ours alone: in /tmp another
 * user could have made it first, to collect the environment and fds our clients send.
 */
export function ensureOwnDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SandboxError(`cannot create ${dir}: ${(e as Error).message}`, { stage: 'serve' });
    }
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
    throw new SandboxError(
      `${dir} is not a directory of uid ${process.getuid?.()} with mode 0700 (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}): refusing to listen there`,
      { stage: 'serve' },
    );
  }
}
