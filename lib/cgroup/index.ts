// The cgroup layer: one small interface, a v1 and a v2 implementation, the mode detected once.
// The launcher (C++) gets SandboxCgroup.fd for clone3(CLONE_INTO_CGROUP), or opens SandboxCgroup.join
// for init, which writes "0" (itself) to each before anything else, so no sandboxed code runs outside
// its cgroup.
import fs from 'node:fs';
import { SandboxError } from '../errors.js';
import { currentLayout } from './detect.js';
import { sweepOnce } from './stale.js';
import type { CgroupManagerResult } from './types.js';
import { createManagerV1, parentDirsV1 } from './v1.js';
import { namedParentDir } from './detect.js';
import { createManagerV2, parentDirV2 } from './v2.js';

export { CgroupReserve } from './reserve.js';
export type {
  CgroupLimits,
  CgroupManager,
  CgroupManagerResult,
  CgroupMode,
  CgroupUnavailableCode,
  CgroupUsage,
  MemorySplit,
  SandboxCgroup,
} from './types.js';

const managers = new Map<string, CgroupManagerResult>();

/**
 * The manager for sandbox cgroups under `parent` (default: the caller's own cgroup, per hierarchy on
 * v1), or null and the reason when no usable cgroup exists (rootless on v1, v2 without delegation,
 * missing controllers, other processes in the v2 parent). Cached per parent, but for "other
 * processes" (tried again at the next call): the first call also prepares the parent (v2: enables
 * controllers, moving this process into a leaf of its own when needed) and removes cgroups left
 * behind by dead owners.
 */
export function cgroupManager(opts: { parent?: string | null } = {}): CgroupManagerResult {
  const key = opts.parent ?? '';
  let result = managers.get(key);
  if (result === undefined) {
    const detected = currentLayout();
    if (detected.layout === null) {
      result = { manager: null, reason: detected.reason, code: detected.code };
    } else {
      try {
        result =
          detected.layout.mode === 'cgroup2'
            ? createManagerV2(detected.layout, opts.parent ?? null)
            : createManagerV1(detected.layout, opts.parent ?? null);
      } catch (err) {
        // A cgroup file we could not read while preparing the parent: no usable cgroup, not a crash.
        if (!(err instanceof SandboxError)) throw err;
        const denied = err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS';
        result = { manager: null, code: denied ? 'permission' : 'parent', reason: err.message };
      }
    }
    // 'busy' passes (other processes in the v2 parent, e.g. a sandbox without limits started
    // first, whose init sits there until it ends): the next call tries again.
    if (result.manager !== null || result.code !== 'busy') managers.set(key, result);
  }
  return result;
}

/**
 * The directories a named cgroup parent stands for (one per v1 hierarchy, one on v2), read as
 * cgroupManager reads it, or why it stands for none; null when there is no cgroup filesystem to
 * look in (the run then falls back, and says so).
 */
export function namedParentDirs(parent: string): { dirs: string[] } | { reason: string } | null {
  const detected = currentLayout();
  if (detected.layout === null) return null;
  const layout = detected.layout;
  if (layout.mode === 'cgroup2') {
    const dir = namedParentDir(layout, layout.cgroupPath, parent);
    return dir === null ? { reason: `it is not visible under ${layout.mountPoint}` } : { dirs: [dir] };
  }
  const dirs = parentDirsV1(layout, parent);
  return typeof dirs === 'string' ? { reason: dirs } : { dirs: [...new Set(Object.values(dirs))] };
}

const sweptParents = new Set<string>();

/**
 * Removes the cgroups dead owners left under `parent` (default: the caller's cgroup), at the first
 * start of a sandbox whatever its options: a process killed outright leaves its sandboxes'
 * cgroups (lib/cgroup/stale.ts), and the next process to start one may run no limits at all.
 * Nothing is prepared here (no controller enabled, no process moved); cgroupManager() sweeps too.
 * Only directories this process may write, only names the project gives (stale.ts).
 */
export function sweepStaleCgroups(parent: string | null): void {
  const key = parent ?? '';
  if (sweptParents.has(key)) return;
  sweptParents.add(key);
  // After the launch, not before it: a readdir of each parent and a look at each owner (~0.6 ms
  // with some eighty cgroups of live processes there) need not delay a run that uses no cgroup.
  setTimeout(() => sweepNow(parent), 0).unref();
}

function sweepNow(parent: string | null): void {
  const detected = currentLayout();
  if (detected.layout === null) return;
  const writable = (dir: string): boolean => {
    try {
      fs.accessSync(dir, fs.constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (detected.layout.mode === 'cgroup2') {
    const dir = parentDirV2(detected.layout, parent);
    if (dir !== null && writable(dir)) sweepOnce([dir], { supervisors: true });
    return;
  }
  const dirs = parentDirsV1(detected.layout, parent);
  if (typeof dirs === 'string') return;
  sweepOnce([...new Set(Object.values(dirs))].filter(writable), { supervisors: false });
}
