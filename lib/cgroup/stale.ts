// Names of the cgroups we create, and the removal of those a dead owner left behind.
//
// A sandbox cgroup is "sandbox-<owner pid>-<owner start time>-<n>": the start time (field 22 of
// /proc/PID/stat, clock ticks since boot) tells a live owner from a new process that reuses its pid,
// so a leftover is never kept forever behind a recycled pid and a live run is never taken for one.
// The supervisor leaf (v2) is "sandbox-supervisor-<pid>" and is removed only when empty.
// Nothing else is ever touched: only names matching these patterns, in the parent(s) we use.
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errno.js';
import { cgroupTree, fastIo, killUntilEmpty, readOptionalCgroupFile, sleepSync, treePids } from './files.js';
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
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    // Unreadable (hidepid=): it exists, so assume it is the owner rather than remove a live run.
    return true;
  }
  // A killed owner stays a zombie until its parent reaps it: it runs nothing any more.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return false;
  const actual = parseStartTime(stat);
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
 * with supervisors, the empty supervisor leaves of dead owners. Returns the directories removed; those
 * of dead owners that cannot go yet (tasks still exiting: EBUSY) are added to `busy`, for
 * retryStale().
 */
export function removeStale(parents: string[], opts: { supervisors: boolean }, busy: string[] = []): string[] {
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
        const fate = removeOne(parent, name, opts.supervisors);
        if (fate === 'removed') removed.push(path.join(parent, name));
        else if (fate === 'busy') busy.push(path.join(parent, name));
      } catch {
        // Unreadable or vanished meanwhile: leave it for the next start.
      }
    }
  }
  return removed;
}

/** A dead owner's sandbox cgroup (by its name alone: pid and start time). */
function deadOwners(name: string): boolean {
  const sandbox = SANDBOX_NAME.exec(name);
  return sandbox !== null && !ownerAlive(Number(sandbox[1]), Number(sandbox[2]));
}

function removeOne(parent: string, name: string, supervisors: boolean): 'removed' | 'kept' | 'busy' {
  const dir = path.join(parent, name);
  if (SANDBOX_NAME.test(name)) {
    if (!deadOwners(name)) return 'kept';
    // A task shown as pid 0 lives in a pid namespace we cannot see: its owner may be alive there.
    if (treePids(dir).includes(0)) return 'kept';
    killUntilEmpty(() => treePids(dir), 500);
    return cgroupTree(dir).every((d) => rmdirQuietly(d, 5)) ? 'removed' : 'busy';
  }
  const supervisor = supervisors ? SUPERVISOR_NAME.exec(name) : null;
  if (supervisor === null || Number(supervisor[1]) === process.pid || pidExists(Number(supervisor[1]))) return 'kept';
  // Only an empty leaf: whatever the owner left running there is not ours to kill.
  const text = readOptionalCgroupFile(dir, 'cgroup.procs');
  return text !== null && parsePids(text).length === 0 && rmdirQuietly(dir, 0) ? 'removed' : 'kept';
}

/** Delays of retryStale()'s rounds: a parent just killed leaves inits its own parent reaps later. */
const RETRY_MS = [20, 50, 100, 250, 500, 1000, 2000, 4000];

/**
 * Tries the busy directories of removeStale() again in rounds, off the caller's way (timers that do
 * not keep the process alive): each round SIGKILLs what is in them once and removes what is empty,
 * without waiting. Only a dead owner's sandbox cgroups get here; the rule is checked again each round.
 */
export function retryStale(busy: string[], round = 0): void {
  if (busy.length === 0 || round >= RETRY_MS.length) return;
  setTimeout(() => {
    const still = busy.filter((dir) => {
      try {
        if (!deadOwners(path.basename(dir))) return false;
        const pids = treePids(dir);
        if (pids.includes(0)) return false;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // ESRCH: it exited meanwhile.
          }
        }
        return !cgroupTree(dir).every((d) => rmdirQuietly(d, 0));
      } catch {
        return false; // gone meanwhile
      }
    });
    retryStale(still, round + 1);
  }, RETRY_MS[round]).unref();
}

const swept = new Set<string>();

/**
 * removeStale() of the parents not swept yet by this thread, then retryStale() of what was busy. Run
 * at the first start of each configuration that could use a cgroup (lib/cgroup/index.ts), limits or not.
 */
export function sweepOnce(parents: string[], opts: { supervisors: boolean }): void {
  const fresh = parents.filter((p) => !swept.has(p));
  if (fresh.length === 0) return;
  for (const p of fresh) swept.add(p);
  const busy: string[] = [];
  removeStale(fresh, opts, busy);
  retryStale(busy);
}
