// Names of the cgroups we create, and the removal of those a dead owner left behind.
//
// A sandbox cgroup is "sandbox-<owner pid>-<owner start time>-<n>": the start time (field 22 of
// /proc/PID/stat, clock ticks since boot) tells a live owner from a new process that reuses its pid,
// so a leftover is never kept forever behind a recycled pid and a live run is never taken for one.
// The supervisor leaf (v2) is "sandbox-supervisor-<pid>" and is removed only when empty.
// Nothing else is ever touched: only names matching these patterns, in the parent(s) we use.
import fs from 'node:fs';
import path from 'node:path';
import { cgroupTree, errnoCode, fastIo, killUntilEmpty, readOptionalCgroupFile, sleepSync, treePids } from './files.js';
import { parsePids, parseStartTime } from './proc.js';

export const SANDBOX_NAME = /^sandbox-(\d+)-(\d+)-(\d+)$/;
export const SUPERVISOR_NAME = /^sandbox-supervisor-(\d+)$/;

export function supervisorName(pid = process.pid): string {
  return `sandbox-supervisor-${pid}`;
}

/** Start time of a process in clock ticks since boot, or null when it does not exist (or is hidden). */
export function processStartTime(pid: number | 'self'): number | null {
  try {
    return parseStartTime(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

let ownStartTime: number | null = null;
// Without the addon (doctor, the cgroup layer's own tests): a counter of this module's, from a random
// start. Each worker thread has its own module state; two counting from 0 would make the same cgroup.
let counter = Math.floor(Math.random() * 2 ** 40) * 2 ** 12;

/** A fresh sandbox cgroup name for this process: unique across its threads (the addon's serial). */
export function nextSandboxName(): string {
  ownStartTime ??= processStartTime('self') ?? 0;
  const serial = fastIo()?.cgroupSerial() ?? counter++;
  return `sandbox-${process.pid}-${ownStartTime}-${serial}`;
}

/** kill(pid, 0): ESRCH = no such process; EPERM = it exists (another user's). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) !== 'ESRCH';
  }
}

/** Is the owner encoded in a sandbox cgroup's name still running? */
export function ownerAlive(pid: number, startTime: number): boolean {
  if (!pidExists(pid)) return false;
  const actual = processStartTime(pid);
  // Unreadable (hidepid=): it exists, so assume it is the owner rather than remove a live run.
  return actual === null || actual === startTime;
}

function rmdirQuietly(dir: string, retries: number): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || attempt >= retries) return false;
      sleepSync(2 << attempt);
    }
  }
}

/**
 * Remove sandbox cgroups of dead owners from each parent (killing what still runs in them first) and,
 * with supervisors, the empty supervisor leaves of dead owners. Best effort: what cannot be removed
 * now (tasks still exiting) is left for the next start. Returns the directories removed.
 */
export function removeStale(parents: string[], opts: { supervisors: boolean }): string[] {
  const removed: string[] = [];
  for (const parent of new Set(parents)) {
    let names: string[];
    try {
      names = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        if (removeOne(parent, name, opts.supervisors)) removed.push(path.join(parent, name));
      } catch {
        // Unreadable or vanished meanwhile: leave it for the next start.
      }
    }
  }
  return removed;
}

function removeOne(parent: string, name: string, supervisors: boolean): boolean {
  const dir = path.join(parent, name);
  const sandbox = SANDBOX_NAME.exec(name);
  if (sandbox !== null) {
    if (ownerAlive(Number(sandbox[1]), Number(sandbox[2]))) return false;
    // A task shown as pid 0 lives in a pid namespace we cannot see: its owner may be alive there.
    if (treePids(dir).includes(0)) return false;
    killUntilEmpty(() => treePids(dir), 500);
    return cgroupTree(dir).every((d) => rmdirQuietly(d, 5));
  }
  const supervisor = supervisors ? SUPERVISOR_NAME.exec(name) : null;
  if (supervisor === null || Number(supervisor[1]) === process.pid || pidExists(Number(supervisor[1]))) return false;
  // Only an empty leaf: whatever the owner left running there is not ours to kill.
  const text = readOptionalCgroupFile(dir, 'cgroup.procs');
  return text !== null && parsePids(text).length === 0 && rmdirQuietly(dir, 0);
}
