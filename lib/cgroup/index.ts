// The cgroup layer: one small interface, a v1 and a v2 implementation, the mode detected once.
// A run's command process joins its cgroup through SandboxCgroup.join, writing "0" (itself) to each
// file before anything else, so nothing of the command runs outside it. A sandbox whose init is to
// count against its run's cgroup (`pids: 1`) is launched into it instead: SandboxCgroup.fd for
// clone3(CLONE_INTO_CGROUP), or the same files for the init.
import fs from 'node:fs';
import { SandboxError } from '../errors.js';
import { currentLayout, forgetLayout, type LayoutV2 } from './detect.js';
import { ownSubtreeManager } from './own-subtree.js';
import { sweepOnce } from './stale.js';
import { moveIntoUserScope } from './systemd-scope.js';
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
  CgroupVia,
  MemorySplit,
  SandboxCgroup,
} from './types.js';

const managers = new Map<string, CgroupManagerResult>();
/** The user manager was asked for a scope (once per process, whatever its answer). */
let scopeAsked: { reason: string | null; ms: number | null } | null = null;

/** What asking the user's systemd for a scope cost, in ms (null: not asked or refused): the figure docs/cgroups-v2.md gives. */
export function scopeCostMs(): number | null {
  return scopeAsked?.ms ?? null;
}

/**
 * cgroup v2 without a named parent: the caller's cgroup; when it cannot be used, root makes the
 * sandbox cgroups in its own subtree and an ordinary user moves this process into a delegated
 * scope of its systemd (docs/cgroups-v2.md says how each is chosen).
 */
function managerV2(layout: LayoutV2): CgroupManagerResult {
  const own = createManagerV2(layout, null);
  if (own.manager !== null || own.code === 'no-cgroupfs' || own.code === 'parent') return own;
  if (process.geteuid?.() === 0) {
    const subtree = ownSubtreeManager(layout);
    if (subtree.manager !== null) return subtree;
    return { ...own, reason: `${own.reason}; and ${subtree.reason}` };
  }
  if (scopeAsked === null) {
    const moved = moveIntoUserScope();
    scopeAsked = moved.unit === null ? { reason: moved.reason, ms: null } : { reason: null, ms: moved.ms };
    if (moved.unit !== null) {
      forgetLayout();
      const now = currentLayout();
      if (now.layout === null) return { manager: null, code: now.code, reason: now.reason };
      if (now.layout.mode !== 'cgroup2') return own;
      const scoped = createManagerV2(now.layout, null, 'systemd-scope');
      if (scoped.manager !== null || scoped.code === 'busy') return scoped;
      return { ...scoped, reason: `in the delegated scope ${moved.unit}: ${scoped.reason}` };
    }
  }
  if (scopeAsked.reason === null) {
    // Already moved into a scope of ours: what createManagerV2 said about it stands.
    return own;
  }
  return { ...own, reason: `${own.reason}; and ${scopeAsked.reason}` };
}

/**
 * The manager for sandbox cgroups under `parent` (default: the caller's own cgroup, per hierarchy on
 * v1; on v2 the fallbacks of managerV2), or null and the reason when no usable cgroup exists
 * (rootless on v1, v2 without delegation or a user manager, missing controllers). Cached per parent,
 * but for "other processes" (tried again at the next call): the first call also prepares the parent
 * (v2: enables controllers, moving this process into a leaf of its own when needed) and removes
 * cgroups left behind by dead owners.
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
        const layout = detected.layout;
        if (layout.mode === 'cgroup1') result = createManagerV1(layout, opts.parent ?? null);
        else result = opts.parent == null ? managerV2(layout) : createManagerV2(layout, opts.parent);
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
