// The fds sandboxes hold, against the process's RLIMIT_NOFILE: a pool that could not run its
// sandboxes at once is refused at warm() with the figures, not failed run by run later with EMFILE.
// The costs are measured ones (docs/faults.md has the table and how to measure them again).
import fs from 'node:fs';
import { constants } from 'node:os';
import { SandboxError } from './errors.js';

/** A warm sandbox, idle: its pidfd and the socket runs are sent over. */
export const WARM_SANDBOX_FDS = 2;
/** A run on it with its output captured: the run's report pipe and the stdout and stderr pipes. */
export const WARM_RUN_FDS = 3;
/** A launch's own, for a moment: the command's ends of its pipes, the plan memfd, the report pipe's other end. */
export const LAUNCH_FDS = 4;

/** The limit as last read: at the limit itself /proc/self/limits cannot be opened (EMFILE). */
let lastRead: number | null | undefined;

/**
 * RLIMIT_NOFILE's soft limit, from /proc/self/limits (Node has no getrlimit); null when unknown or
 * unlimited. When the file cannot be read (this process is out of fds), the value last read.
 */
export function openFileLimit(): number | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/limits', 'latin1');
  } catch {
    return lastRead ?? null;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  lastRead = m === null || m[1] === 'unlimited' ? null : Number(m[1]);
  return lastRead;
}

/** The fds this process has open now. */
export function openFileCount(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1; // less readdir's own
  } catch {
    return 0;
  }
}

/**
 * Throws a SandboxError (stage 'pool', code EMFILE) when `need` more fds do not fit under
 * RLIMIT_NOFILE with what is open now. `what` says what needs them and how they add up.
 */
export function checkFdBudget(need: number, what: string): void {
  const limit = openFileLimit();
  if (limit === null) return;
  const open = openFileCount();
  if (open + need <= limit) return;
  throw new SandboxError(
    `${what} needs about ${need} fds, and this process has ${open} open of its RLIMIT_NOFILE of ${limit}: ` +
      'raise the limit (ulimit -n, LimitNOFILE=) or use a smaller pool (docs/faults.md)',
    { stage: 'pool', errno: constants.errno.EMFILE, syscall: 'getrlimit' },
  );
}
