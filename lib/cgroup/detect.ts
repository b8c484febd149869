// Where the cgroups are: the mode (v1 or v2), the mounts, the caller's cgroup, the parent.
// Everything comes from /proc/self/mountinfo and /proc/self/cgroup; no path is assumed, so a
// cgroupfs mounted elsewhere, or a namespaced one whose root is not "/", is found too.
import fs from 'node:fs';
import path from 'node:path';
import { parseMountinfo, parseProcCgroup, type MountInfo } from './proc.js';
import type { CgroupUnavailableCode } from './types.js';

/** v1 controllers: the sandbox needs memory, pids and cpuacct (accounting); cpu (quota) and cpuset (pinning) are optional. */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'cpuset'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];
export const V1_REQUIRED: readonly V1Controller[] = ['cpuacct', 'memory', 'pids'];
/** v2 controllers: memory and pids are required; cpu (cpu.max) is optional, cpu.stat exists without it. */
export const V2_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;
export const V2_REQUIRED: readonly string[] = ['memory', 'pids'];

export interface V1Hierarchy {
  mountPoint: string;
  /** The mount's root inside the hierarchy (mountinfo field 4). */
  root: string;
  /** The caller's cgroup in this hierarchy, relative to our cgroup namespace (from /proc/self/cgroup). */
  cgroupPath: string;
  /** The caller's cgroup directory. */
  dir: string;
}

export interface LayoutV1 {
  mode: 'cgroup1';
  hierarchies: Partial<Record<V1Controller, V1Hierarchy>>;
}

export interface LayoutV2 {
  mode: 'cgroup2';
  mountPoint: string;
  root: string;
  cgroupPath: string;
  dir: string;
}

export type Layout = LayoutV1 | LayoutV2;
export type LayoutResult = { layout: Layout } | { layout: null; reason: string; code: CgroupUnavailableCode };

/**
 * The directory of cgroup `cgroupPath` under `mount`, or null when the mount does not show it.
 * Both the mount's root and the path are relative to the reader's cgroup namespace
 * (cgroup_namespaces(7)); a path outside the namespace reads "/..".
 */
export function cgroupDirFor(mount: { mountPoint: string; root: string }, cgroupPath: string): string | null {
  if (!cgroupPath.startsWith('/') || cgroupPath === '/..' || cgroupPath.startsWith('/../')) return null;
  const root = mount.root.replace(/\/+$/, '') || '/';
  let rest: string;
  if (root === '/') rest = cgroupPath;
  else if (cgroupPath === root) rest = '/';
  else if (cgroupPath.startsWith(root + '/')) rest = cgroupPath.slice(root.length);
  else return null;
  return path.posix.join(mount.mountPoint, rest).replace(/(.)\/+$/, '$1');
}

/** Mounts still reachable: a later mount on the same mount point hides the earlier one. */
function visibleMounts(mounts: MountInfo[]): MountInfo[] {
  const byPoint = new Map<string, MountInfo>();
  for (const m of mounts) {
    byPoint.delete(m.mountPoint);
    byPoint.set(m.mountPoint, m);
  }
  return [...byPoint.values()];
}

/** Prefer the usual place (/sys/fs/cgroup...), then the mount showing the most of the hierarchy. */
function rankMounts(mounts: MountInfo[]): MountInfo[] {
  const usual = (m: MountInfo) => (m.mountPoint === '/sys/fs/cgroup' || m.mountPoint.startsWith('/sys/fs/cgroup/') ? 0 : 1);
  return [...mounts].sort((a, b) => usual(a) - usual(b) || a.root.length - b.root.length);
}

// v1 super options that are not controllers (cgroups(7), Documentation/admin-guide/cgroup-v1/cgroups.rst).
const V1_NON_CONTROLLER_OPTIONS = new Set(['rw', 'ro', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode']);

/** The controllers a v1 mount carries: its super options but flags, name= and release_agent=. */
export function v1ControllersOf(m: MountInfo): string[] {
  return m.superOptions.filter((o) => !V1_NON_CONTROLLER_OPTIONS.has(o) && !o.startsWith('name=') && !o.startsWith('release_agent='));
}

/** What is mounted, as the kernel shows it: which versions, and the controllers v1 hierarchies carry. */
export interface MountedCgroups {
  /** 'hybrid': v1 hierarchies with controllers and a cgroup2 mount side by side (systemd's hybrid layout). */
  mode: 'v1' | 'v2' | 'hybrid' | 'none';
  /** Visible v1 mounts (named ones such as name=systemd too), the usual place first. */
  v1Mounts: MountInfo[];
  /** Visible cgroup2 mounts, the usual place first. */
  v2Mounts: MountInfo[];
  /** Controllers attached to v1 hierarchies, sorted. */
  v1Controllers: string[];
}

export function mountedCgroups(mountinfoText: string): MountedCgroups {
  const mounts = visibleMounts(parseMountinfo(mountinfoText));
  const v1Mounts = rankMounts(mounts.filter((m) => m.fsType === 'cgroup'));
  const v2Mounts = rankMounts(mounts.filter((m) => m.fsType === 'cgroup2'));
  const v1Controllers = [...new Set(v1Mounts.flatMap(v1ControllersOf))].sort();
  const v1 = v1Controllers.length > 0;
  const mode = v1 ? (v2Mounts.length > 0 ? 'hybrid' : 'v1') : v2Mounts.length > 0 ? 'v2' : 'none';
  return { mode, v1Mounts, v2Mounts, v1Controllers };
}

/**
 * Decide the mode: v2 when /sys/fs/cgroup is a cgroup2 mount (the unified layout); v1 when the v1
 * hierarchies we need are mounted (systemd's "hybrid" layout, with an empty cgroup2 at
 * /sys/fs/cgroup/unified, is v1 for us); v2 also when cgroup2 is mounted elsewhere and none of the
 * controllers we need is bound to a v1 hierarchy (a controller can be attached to one version only).
 */
export function detectLayout(mountinfoText: string, procCgroupText: string): LayoutResult {
  const { v1Mounts, v2Mounts } = mountedCgroups(mountinfoText);
  const own = parseProcCgroup(procCgroupText);
  const v1Has = (c: string) => v1Mounts.some((m) => v1ControllersOf(m).includes(c));
  const unified = v2Mounts.some((m) => m.mountPoint === '/sys/fs/cgroup');

  if (!unified && V1_REQUIRED.every(v1Has)) {
    const hierarchies: LayoutV1['hierarchies'] = {};
    for (const controller of V1_CONTROLLERS) {
      if (!v1Has(controller)) continue;
      const entry = own.find((e) => e.hierarchyId !== 0 && e.controllers.includes(controller));
      // Pinning is asked for by few runs: a cpuset hierarchy we cannot use leaves it refused, not every run.
      if (entry === undefined && controller === 'cpuset') continue;
      if (entry === undefined) {
        return { layout: null, code: 'no-cgroupfs', reason: `cgroup v1: /proc/self/cgroup has no ${controller} hierarchy` };
      }
      let found: V1Hierarchy | null = null;
      for (const m of v1Mounts.filter((m) => v1ControllersOf(m).includes(controller))) {
        const dir = cgroupDirFor(m, entry.path);
        if (dir !== null) {
          found = { mountPoint: m.mountPoint, root: m.root, cgroupPath: entry.path, dir };
          break;
        }
      }
      if (found === null && controller === 'cpuset') continue;
      if (found === null) {
        return {
          layout: null,
          code: 'no-cgroupfs',
          reason: `cgroup v1: our ${controller} cgroup ${entry.path} is not visible under any mount of that hierarchy`,
        };
      }
      hierarchies[controller] = found;
    }
    return { layout: { mode: 'cgroup1', hierarchies } };
  }

  if (v2Mounts.length > 0 && (unified || !V2_REQUIRED.some(v1Has))) {
    const entry = own.find((e) => e.hierarchyId === 0);
    if (entry === undefined) {
      return { layout: null, code: 'no-cgroupfs', reason: 'cgroup v2: /proc/self/cgroup has no "0::" line' };
    }
    for (const m of v2Mounts) {
      const dir = cgroupDirFor(m, entry.path);
      if (dir !== null) return { layout: { mode: 'cgroup2', mountPoint: m.mountPoint, root: m.root, cgroupPath: entry.path, dir } };
    }
    return {
      layout: null,
      code: 'no-cgroupfs',
      reason: `cgroup v2: our cgroup ${entry.path} is not visible under any cgroup2 mount`,
    };
  }

  if (v1Mounts.length > 0) {
    const missing = V1_REQUIRED.filter((c) => !v1Has(c));
    return {
      layout: null,
      code: 'controllers',
      reason: `cgroup v1: no hierarchy with the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''} is mounted`,
    };
  }
  return { layout: null, code: 'no-cgroupfs', reason: 'no cgroup filesystem is mounted (see /proc/self/mountinfo)' };
}

let cachedLayout: LayoutResult | null = null;

/** Forget the layout: this process has moved to another cgroup (./systemd-scope.ts). */
export function forgetLayout(): void {
  cachedLayout = null;
}

/** The layout of this process, detected once. */
export function currentLayout(): LayoutResult {
  if (cachedLayout === null) {
    let mountinfo: string;
    let procCgroup: string;
    try {
      mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
      procCgroup = fs.readFileSync('/proc/self/cgroup', 'utf8');
    } catch (err) {
      return { layout: null, code: 'no-cgroupfs', reason: `cannot read /proc/self: ${(err as Error).message}` };
    }
    cachedLayout = detectLayout(mountinfo, procCgroup);
  }
  return cachedLayout;
}

/**
 * A parent the user names, as a directory of the hierarchy mounted at mountPoint: a directory under
 * the mount point is taken as is; any other absolute path is a cgroup path ("/judge"); a relative path
 * is relative to the caller's cgroup (callerPath). null when the mount does not show it.
 */
export function namedParentDir(mount: { mountPoint: string; root: string }, callerPath: string, parent: string): string | null {
  const normalized = path.posix.normalize(parent);
  if (normalized === mount.mountPoint || normalized.startsWith(mount.mountPoint.replace(/\/$/, '') + '/')) {
    return normalized.replace(/\/+$/, '') || '/';
  }
  return cgroupDirFor(mount, path.posix.resolve(callerPath, parent));
}
