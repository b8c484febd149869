// The store's lock: a file made with O_EXCL holding the owner's pid. Held only while names, image
// records and finished layers change (a few renames and small writes), never while downloading or
// extracting. A lock whose owner died (a killed pull) is taken over; waiting never blocks the loop.
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError } from '../errors.js';

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryTake(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Removes the lock at PATH when its owner is dead; true when it did. */
function breakStale(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return true; // gone meanwhile
  }
  const pid = Number.parseInt(text, 10);
  // An empty file is a lock whose owner was killed between open and write, or is writing now: it is
  // stale only when it stays empty, which the next round sees.
  if (text === '' || pidAlive(pid)) return false;
  // Rename first: of two processes breaking the same stale lock, only one succeeds.
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return true;
  }
  const again = Number.parseInt(readFileSync(aside, 'utf8'), 10);
  if (again !== pid && pidAlive(again)) {
    // A live owner took it between our read and rename: give it back.
    renameSync(aside, path);
    return false;
  }
  unlinkSync(aside);
  return true;
}

/** Runs FN holding the lock at PATH. */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, signal?: AbortSignal, what = 'the image store'): Promise<T> {
  let waited = 0;
  let emptySeen = false;
  for (;;) {
    if (tryTake(path)) break;
    if (breakStale(path)) continue;
    try {
      if (readFileSync(path, 'utf8') === '') {
        if (emptySeen) {
          unlinkSync(path);
          continue;
        }
        emptySeen = true;
      } else emptySeen = false;
    } catch {
      continue;
    }
    if (signal?.aborted) throw signal.reason;
    if (waited > 120_000) {
      throw new SandboxError(`${what}: its lock ${path} has been held for 2 minutes by another process`, { stage: 'image' });
    }
    const step = Math.min(200, 5 + waited / 10);
    await sleep(step);
    waited += step;
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // removed by someone who judged us dead: nothing to release
    }
  }
}
