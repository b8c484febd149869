// The directory a JobRunner keeps its commands' working directories in, when the caller gives
// none. Its name carries its owner (pid and start time, as the cgroups' names do: lib/cgroup/stale.ts),
// so that what a killed owner (kill -9: no close()) left is found and removed by the next runner
// to start on the machine: the directories and the tmpfs mounted on each as root (./slots.ts).
// The sandboxes themselves die with their owner (PR_SET_PDEATHSIG) and their cgroups go at the
// next run's start; these mounts are on the host, so they are the runner's to sweep.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownerAlive, processStartTime } from '../cgroup/stale.js';

const NAME = /^sandbox-jobs-(\d+)-(\d+)-\d+$/;
/** Roots made by this process: each runner has one of its own. */
let made = 0;

/** A new root in `parent` (default the OS temp dir), named after this process; earlier owners' are swept first. */
export function makeWorkRoot(parent = tmpdir()): string {
  sweepWorkRoots(parent);
  const root = join(parent, `sandbox-jobs-${process.pid}-${processStartTime('self') ?? 0}-${++made}`);
  mkdirSync(root, { mode: 0o711 });
  return root;
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes undone). */
export function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return info
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes the roots in `parent` whose owner is gone, with what is mounted in them. A mount still
 * held (a sandbox of the dead owner not yet reaped) is detached lazily: it goes when released.
 * Returns the roots removed; one that cannot be removed is left for the next sweep.
 */
export function sweepWorkRoots(parent = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const n of names) {
    const m = NAME.exec(n);
    if (m === null || ownerAlive(Number(m[1]), Number(m[2]))) continue;
    const dir = join(parent, n);
    try {
      for (const mount of mountsUnder(dir)) {
        try {
          execFileSync('umount', [mount], { stdio: 'ignore' });
        } catch {
          execFileSync('umount', ['--lazy', mount], { stdio: 'ignore' });
        }
      }
      rmSync(dir, { recursive: true, force: true });
      swept.push(dir);
    } catch {
      // Not ours to force (another user's, or a mount we may not detach): the next sweep tries again.
    }
  }
  return swept;
}
