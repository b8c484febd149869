// cgroup v1: one directory per hierarchy (cpu, cpuacct — the same one when co-mounted —, memory, pids).
// Kernel docs: Documentation/admin-guide/cgroup-v1/{memory,cpuacct,pids}.rst, scheduler/sched-bwc.rst.
import fs from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors.js';
import {
  cgroupError,
  describeError,
  hasFile,
  killUntilEmpty,
  memorySplitOf,
  readCgroupFile,
  readOptionalCgroupFile,
  removeCgroupDirs,
  treePids,
  writeCgroupFile,
} from './files.js';
import { cgroupDirFor, V1_CONTROLLERS, type LayoutV1, type V1Controller } from './detect.js';
import { checkLimits, CPU_PERIOD_US, cpuQuotaUs, formatCount } from './limits.js';
import { parseKeyValue, parseNumber, splitCpu } from './proc.js';
import { nextSandboxName, removeStale } from './stale.js';
import type { CgroupLimits, CgroupManager, CgroupManagerResult, CgroupUsage, MemorySplit, SandboxCgroup } from './types.js';

/** One sandbox's directories; cpu is null when no cpu hierarchy is mounted. */
export interface V1Dirs {
  cpu: string | null;
  cpuacct: string;
  memory: string;
  pids: string;
}

/** USER_HZ: cpuacct.stat counts in these ticks. It is 100 on every architecture Linux exports to user space (x86, arm64). */
const USER_HZ = 100;

/** Write the limits into a sandbox's (fresh) directories. */
export function writeLimitsV1(dirs: V1Dirs, limits: CgroupLimits): void {
  if (limits.cpuQuota !== null) {
    if (dirs.cpu === null) {
      throw new SandboxError('cannot limit the CPU quota: no cgroup v1 cpu hierarchy is mounted', { stage: 'cgroup' });
    }
    writeCgroupFile(dirs.cpu, 'cpu.cfs_period_us', formatCount(CPU_PERIOD_US));
    writeCgroupFile(dirs.cpu, 'cpu.cfs_quota_us', formatCount(cpuQuotaUs(limits.cpuQuota)));
  }
  if (limits.memoryBytes !== null) {
    // memsw (memory+swap) must stay >= the memory limit, so the memory limit goes first.
    writeCgroupFile(dirs.memory, 'memory.limit_in_bytes', formatCount(limits.memoryBytes));
    if (hasFile(dirs.memory, 'memory.memsw.limit_in_bytes')) {
      writeCgroupFile(dirs.memory, 'memory.memsw.limit_in_bytes', formatCount(limits.memoryBytes));
    } else {
      // No swap accounting (swapaccount=0 or CONFIG_MEMCG_SWAP off): swappiness 0 keeps this cgroup's own
      // reclaim from swapping anonymous memory out, so the limit is not stretched by swap. Best effort:
      // the limit itself holds either way.
      try {
        writeCgroupFile(dirs.memory, 'memory.swappiness', '0');
      } catch {
        // Older kernels refuse it under use_hierarchy; nothing to do.
      }
    }
    // memory.oom_control stays as created (oom_kill_disable 0): a task over the limit is OOM-killed and
    // counted in oom_kill, rather than the whole cgroup hanging in the OOM state.
  }
  if (limits.pids !== null) writeCgroupFile(dirs.pids, 'pids.max', formatCount(limits.pids));
}

/** user+sys of the tree in µs, from the exact scheduler counter (one file). */
export function readCpuUsageUsV1(cpuacctDir: string): number {
  const ns = parseNumber(readCgroupFile(cpuacctDir, 'cpuacct.usage'));
  if (ns === null) throw new SandboxError(`cannot parse cpuacct.usage in ${cpuacctDir}`, { stage: 'cgroup' });
  return Math.round(ns / 1000);
}

/**
 * CPU of the tree. cpuacct.usage is the scheduler's exact ns total; cpuacct.usage_user/usage_sys (ns,
 * kernel >= 4.11) and cpuacct.stat (USER_HZ ticks) are tick-sampled splits whose sum drifts from the
 * total by a few %, so they only give the proportion.
 */
export function readCpuV1(cpuacctDir: string): Pick<CgroupUsage, 'userUs' | 'sysUs' | 'cpuSource'> {
  const usage = readOptionalCgroupFile(cpuacctDir, 'cpuacct.usage');
  const totalNs = usage === null ? null : parseNumber(usage);
  const userNs = parseNumber(readOptionalCgroupFile(cpuacctDir, 'cpuacct.usage_user') ?? '');
  const sysNs = parseNumber(readOptionalCgroupFile(cpuacctDir, 'cpuacct.usage_sys') ?? '');
  if (totalNs !== null && userNs !== null && sysNs !== null) {
    return { ...splitCpu(Math.round(totalNs / 1000), userNs, sysNs), cpuSource: 'cpuacct.usage' };
  }
  // Before 4.11 (no usage_user/usage_sys): the tick counts give the split, or everything.
  const stat = parseKeyValue(readOptionalCgroupFile(cpuacctDir, 'cpuacct.stat') ?? '');
  const userTicks = stat.get('user') ?? 0;
  const sysTicks = stat.get('system') ?? 0;
  if (totalNs === null) {
    // Only the tick counts: 10 ms resolution.
    const tickUs = 1_000_000 / USER_HZ;
    return { userUs: userTicks * tickUs, sysUs: sysTicks * tickUs, cpuSource: 'cpuacct.stat' };
  }
  return { ...splitCpu(Math.round(totalNs / 1000), userTicks, sysTicks), cpuSource: 'cpuacct.usage' };
}

/** Memory figures of the tree. */
export function readMemoryV1(
  memoryDir: string,
): Pick<CgroupUsage, 'memoryPeakBytes' | 'memorySource' | 'anonBytes' | 'fileBytes' | 'oomKills' | 'memoryFailcnt'> {
  const peak = parseNumber(readOptionalCgroupFile(memoryDir, 'memory.max_usage_in_bytes') ?? '');
  // total_* include descendants; rss is anonymous memory (and swap cache), cache is page cache incl. shmem.
  const stat = parseKeyValue(readOptionalCgroupFile(memoryDir, 'memory.stat') ?? '');
  // oom_kill appeared in memory.oom_control in 4.13; older kernels only have under_oom.
  const oom = parseKeyValue(readOptionalCgroupFile(memoryDir, 'memory.oom_control') ?? '');
  // A charge over the limit fails on exactly one counter: memory+swap (checked first) or memory. With
  // swap accounting the limit is usually hit on memsw, so both count.
  const failcnt = parseNumber(readOptionalCgroupFile(memoryDir, 'memory.failcnt') ?? '');
  const memswFailcnt = parseNumber(readOptionalCgroupFile(memoryDir, 'memory.memsw.failcnt') ?? '');
  return {
    memoryPeakBytes: peak,
    memorySource: peak === null ? null : 'memory.max_usage_in_bytes',
    anonBytes: stat.get('total_rss') ?? stat.get('rss') ?? null,
    fileBytes: stat.get('total_cache') ?? stat.get('cache') ?? null,
    oomKills: oom.get('oom_kill') ?? 0,
    memoryFailcnt: failcnt === null ? null : failcnt + (memswFailcnt ?? 0),
  };
}

export function readUsageV1(dirs: Pick<V1Dirs, 'cpuacct' | 'memory'>): CgroupUsage {
  return { ...readCpuV1(dirs.cpuacct), ...readMemoryV1(dirs.memory) };
}

class SandboxCgroupV1 implements SandboxCgroup {
  readonly mode = 'cgroup1' as const;
  readonly fd = -1;
  readonly paths: string[];
  readonly procsFiles: string[];

  constructor(readonly dirs: V1Dirs) {
    this.paths = [...new Set([dirs.cpu, dirs.cpuacct, dirs.memory, dirs.pids].filter((d): d is string => d !== null))];
    // `tasks`, not `cgroup.procs`: the init is single-threaded when it is moved, and moving one
    // thread skips the global threadgroup rwsem whose write side waits for an RCU grace period
    // (4-10 ms per launch measured here; bench/README.md).
    this.procsFiles = this.paths.map((d) => path.join(d, 'tasks'));
  }

  cpuUsageUs(): number {
    return readCpuUsageUsV1(this.dirs.cpuacct);
  }

  usage(): CgroupUsage {
    return readUsageV1(this.dirs);
  }

  memorySplit(): MemorySplit | null {
    return memorySplitOf(readOptionalCgroupFile(this.dirs.memory, 'memory.stat'), 'total_rss', 'total_cache');
  }

  /** v1 has no cgroup.kill: SIGKILL every task until none is left (a fork bomb is bounded by pids.max). */
  kill(): void {
    killUntilEmpty(() => this.paths.flatMap(treePids), 2000);
  }

  destroy(): Promise<void> {
    return removeCgroupDirs(this.paths, () => this.kill());
  }
}

/**
 * The parent directory in each hierarchy: the caller's own cgroup, or the named parent (a directory
 * under one hierarchy's mount point, or a cgroup path, applied to every hierarchy).
 */
function parentDirsV1(layout: LayoutV1, parent: string | null): Partial<Record<V1Controller, string>> | string {
  let cgroupPath: string | null = null;
  if (parent !== null) {
    const normalized = path.posix.normalize(parent).replace(/(.)\/+$/, '$1');
    for (const h of Object.values(layout.hierarchies)) {
      if (normalized === h.mountPoint || normalized.startsWith(h.mountPoint + '/')) {
        cgroupPath = path.posix.join(h.root, normalized.slice(h.mountPoint.length) || '/');
        break;
      }
    }
  }
  const dirs: Partial<Record<V1Controller, string>> = {};
  for (const controller of V1_CONTROLLERS) {
    const h = layout.hierarchies[controller];
    if (h === undefined) continue;
    if (parent === null) {
      dirs[controller] = h.dir;
      continue;
    }
    const dir = cgroupDirFor(h, cgroupPath ?? path.posix.resolve(h.cgroupPath, parent));
    if (dir === null) return `cgroup parent ${parent} is not visible in the ${controller} hierarchy (${h.mountPoint})`;
    dirs[controller] = dir;
  }
  return dirs;
}

export function createManagerV1(layout: LayoutV1, parent: string | null): CgroupManagerResult {
  const parents = parentDirsV1(layout, parent);
  if (typeof parents === 'string') return { manager: null, code: 'parent', reason: parents };
  for (const [controller, dir] of Object.entries(parents)) {
    try {
      if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      return { manager: null, code: 'parent', reason: `cgroup parent ${dir} (${controller}) cannot be used: ${describeError(err)}` };
    }
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      const uid = process.geteuid?.() ?? -1;
      return {
        manager: null,
        code: 'permission',
        reason:
          `cannot create cgroups in ${dir}: ${describeError(err)}` +
          (uid === 0 ? '' : ` (cgroup v1 is not delegated to ordinary users, running as uid ${uid}: run as root, or on a cgroup v2 system in a delegated cgroup)`),
      };
    }
  }
  const uniqueParents = [...new Set(Object.values(parents))];
  removeStale(uniqueParents, { supervisors: false });
  const controllers = V1_CONTROLLERS.filter((c) => parents[c] !== undefined);

  const manager: CgroupManager = {
    mode: 'cgroup1',
    parents: uniqueParents,
    controllers,
    create(limits: CgroupLimits): SandboxCgroup {
      checkLimits(limits);
      const name = nextSandboxName();
      const created = new Map<string, string>(); // parent → created dir
      const dirFor = (controller: V1Controller): string | null => {
        const p = parents[controller];
        if (p === undefined) return null;
        let dir = created.get(p);
        if (dir === undefined) {
          dir = path.join(p, name);
          try {
            fs.mkdirSync(dir);
          } catch (err) {
            throw cgroupError('create', name, p, err);
          }
          created.set(p, dir);
        }
        return dir;
      };
      try {
        const dirs: V1Dirs = { cpu: dirFor('cpu'), cpuacct: dirFor('cpuacct')!, memory: dirFor('memory')!, pids: dirFor('pids')! };
        writeLimitsV1(dirs, limits);
        return new SandboxCgroupV1(dirs);
      } catch (err) {
        for (const dir of created.values()) {
          try {
            fs.rmdirSync(dir);
          } catch {
            // Nothing ran in it; a failure here leaves an empty cgroup for the stale cleanup.
          }
        }
        throw err;
      }
    },
  };
  return { manager };
}
