// cgroup v1: one directory per hierarchy (cpu, cpuacct — the same one when co-mounted —, memory, pids).
// Kernel docs: Documentation/admin-guide/cgroup-v1/{memory,cpuacct,pids}.rst, scheduler/sched-bwc.rst.
import fs from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors.js';
import { errorText } from '../errno.js';
import {
  hasFile,
  inDir,
  killUntilEmpty,
  memorySplitOf,
  readCgroupFile,
  readOptionalCgroupFile,
  treePids,
  type CgroupReader,
} from './files.js';
import { cgroupDirFor, V1_CONTROLLERS, type LayoutV1, type V1Controller } from './detect.js';
import { checkLimits, CPU_PERIOD_US, cpuQuotaUs, formatCount } from './limits.js';
import { parseKeyValue, parseNumber, splitCpu } from './proc.js';
import { nextSandboxName, sweepOnce } from './stale.js';
import { closeSteps, makeLater, makeNow, readThenRemove, removeCgroupDirs, runSteps, type CgroupStep } from './steps.js';
import type { CgroupLimits, CgroupManager, CgroupManagerResult, CgroupUsage, MemorySplit, SandboxCgroup } from './types.js';

/** One sandbox's directories; cpu is null without a CPU quota, cpuset without pinning. */
export interface V1Dirs {
  cpu: string | null;
  cpuacct: string;
  memory: string;
  pids: string;
  cpuset?: string | null;
}

function usableDir(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** USER_HZ: cpuacct.stat counts in these ticks. It is 100 on every architecture Linux exports to user space (x86, arm64). */
const USER_HZ = 100;

/**
 * The writes that put the limits on a sandbox's (fresh) directories. `memsw`: the memory hierarchy
 * has swap accounting (memory.memsw.* files: the same in every memory cgroup of a boot).
 */
export function limitStepsV1(dirs: V1Dirs, limits: CgroupLimits, memsw: boolean, parentMems = ''): CgroupStep[] {
  const steps: CgroupStep[] = [];
  const write = (dir: string, file: string, text: string, more: Partial<CgroupStep> = {}) =>
    steps.push({ kind: 'write', path: inDir(dir, file), text, ...more });
  if (limits.cpuQuota !== null) {
    if (dirs.cpu === null) {
      throw new SandboxError('cannot limit the CPU quota: no cgroup v1 cpu hierarchy is mounted', { stage: 'cgroup' });
    }
    write(dirs.cpu, 'cpu.cfs_period_us', formatCount(CPU_PERIOD_US));
    write(dirs.cpu, 'cpu.cfs_quota_us', formatCount(cpuQuotaUs(limits.cpuQuota)));
  }
  if (limits.memoryBytes !== null) {
    // memsw (memory+swap) must stay >= the memory limit, so the memory limit goes first.
    write(dirs.memory, 'memory.limit_in_bytes', formatCount(limits.memoryBytes));
    if (memsw) {
      write(dirs.memory, 'memory.memsw.limit_in_bytes', formatCount(limits.memoryBytes));
    } else {
      // No swap accounting (swapaccount=0 or CONFIG_MEMCG_SWAP off): swappiness 0 keeps this cgroup's own
      // reclaim from swapping anonymous memory out, so the limit is not stretched by swap. Best effort
      // (older kernels refuse it under use_hierarchy): the limit itself holds either way.
      write(dirs.memory, 'memory.swappiness', '0', { bestEffort: true });
    }
    // memory.oom_control stays as created (oom_kill_disable 0): a task over the limit is OOM-killed and
    // counted in oom_kill, rather than the whole cgroup hanging in the OOM state.
  }
  if (limits.pids !== null) write(dirs.pids, 'pids.max', formatCount(limits.pids));
  if (limits.cpusetCpus != null) {
    if (dirs.cpuset == null) {
      throw new SandboxError('cannot pin CPUs: no usable cgroup v1 cpuset hierarchy is mounted', { stage: 'cgroup' });
    }
    // A new v1 cpuset has empty cpus and mems, and takes no task until both are set
    // (cgroup-v1/cpusets.rst): the parent's memory nodes, then the CPUs asked for.
    write(dirs.cpuset, 'cpuset.mems', parentMems);
    write(dirs.cpuset, 'cpuset.cpus', limits.cpusetCpus);
  }
  return steps;
}

/** Write the limits into a sandbox's (fresh) directories, on this thread. */
export function writeLimitsV1(dirs: V1Dirs, limits: CgroupLimits): void {
  makeNow(limitStepsV1(dirs, limits, hasFile(dirs.memory, 'memory.memsw.limit_in_bytes')));
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
export function readCpuV1(
  cpuacctDir: string,
  read: CgroupReader = readOptionalCgroupFile,
): Pick<CgroupUsage, 'userUs' | 'sysUs' | 'cpuSource'> {
  const usage = read(cpuacctDir, 'cpuacct.usage');
  const totalNs = usage === null ? null : parseNumber(usage);
  const userNs = parseNumber(read(cpuacctDir, 'cpuacct.usage_user') ?? '');
  const sysNs = parseNumber(read(cpuacctDir, 'cpuacct.usage_sys') ?? '');
  if (totalNs !== null && userNs !== null && sysNs !== null) {
    return { ...splitCpu(Math.round(totalNs / 1000), userNs, sysNs), cpuSource: 'cpuacct.usage' };
  }
  // Before 4.11 (no usage_user/usage_sys): the tick counts give the split, or everything.
  const stat = parseKeyValue(read(cpuacctDir, 'cpuacct.stat') ?? '');
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
  read: CgroupReader = readOptionalCgroupFile,
): Pick<CgroupUsage, 'memoryPeakBytes' | 'memorySource' | 'anonBytes' | 'fileBytes' | 'oomKills' | 'memoryFailcnt'> {
  const peak = parseNumber(read(memoryDir, 'memory.max_usage_in_bytes') ?? '');
  // total_* include descendants; rss is anonymous memory (and swap cache), cache is page cache incl. shmem.
  const stat = parseKeyValue(read(memoryDir, 'memory.stat') ?? '');
  // oom_kill appeared in memory.oom_control in 4.13; older kernels only have under_oom.
  const oom = parseKeyValue(read(memoryDir, 'memory.oom_control') ?? '');
  // A charge over the limit fails on exactly one counter: memory+swap (checked first) or memory. With
  // swap accounting the limit is usually hit on memsw, so both count.
  const failcnt = parseNumber(read(memoryDir, 'memory.failcnt') ?? '');
  const memswFailcnt = parseNumber(read(memoryDir, 'memory.memsw.failcnt') ?? '');
  return {
    memoryPeakBytes: peak,
    memorySource: peak === null ? null : 'memory.max_usage_in_bytes',
    anonBytes: stat.get('total_rss') ?? stat.get('rss') ?? null,
    fileBytes: stat.get('total_cache') ?? stat.get('cache') ?? null,
    oomKills: oom.get('oom_kill') ?? 0,
    memoryFailcnt: failcnt === null ? null : failcnt + (memswFailcnt ?? 0),
  };
}

export function readUsageV1(dirs: Pick<V1Dirs, 'cpuacct' | 'memory'>, read: CgroupReader = readOptionalCgroupFile): CgroupUsage {
  return { ...readCpuV1(dirs.cpuacct, read), ...readMemoryV1(dirs.memory, read) };
}

/** The files readUsageV1 may read. */
function usageFilesV1(dirs: Pick<V1Dirs, 'cpuacct' | 'memory'>): string[] {
  const cpu = ['cpuacct.usage', 'cpuacct.usage_user', 'cpuacct.usage_sys', 'cpuacct.stat'].map((f) => inDir(dirs.cpuacct, f));
  const memory = ['memory.max_usage_in_bytes', 'memory.stat', 'memory.oom_control', 'memory.failcnt', 'memory.memsw.failcnt'];
  return [...cpu, ...memory.map((f) => inDir(dirs.memory, f))];
}

class SandboxCgroupV1 implements SandboxCgroup {
  readonly mode = 'cgroup1' as const;
  readonly fd = -1;
  readonly paths: string[];
  readonly procsFiles: string[];
  readonly join: (string | number)[];
  /** Fds of procsFiles opened ahead (createLater), until closed. */
  #fds: number[];

  constructor(
    readonly dirs: V1Dirs,
    joinFds: number[] = [],
  ) {
    this.paths = v1Paths(dirs);
    // `tasks`, not `cgroup.procs`: the process that joins (a run's command process, or init) is
    // single-threaded when it moves itself, and moving one thread skips the global threadgroup
    // rwsem whose write side waits for an RCU grace period (milliseconds per run).
    this.procsFiles = this.paths.map((d) => inDir(d, 'tasks'));
    this.#fds = joinFds;
    this.join = joinFds.length > 0 ? joinFds : this.procsFiles;
  }

  /** The fds to close, once. */
  #takeFds(): number[] {
    const fds = this.#fds;
    this.#fds = [];
    return fds;
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
    return removeCgroupDirs(this.paths, () => this.kill(), this.#takeFds());
  }

  end(): Promise<CgroupUsage | null> {
    return readThenRemove(
      usageFilesV1(this.dirs),
      this.paths,
      (read) => readUsageV1(this.dirs, read),
      () => this.kill(),
      this.#takeFds(),
    );
  }

  destroyNow(): void {
    runSteps([...closeSteps(this.#takeFds()), ...this.paths.map((dir): CgroupStep => ({ kind: 'rmdir', path: dir }))]);
  }

  joined(): void {
    const fds = this.#takeFds();
    if (fds.length > 0) runSteps(closeSteps(fds));
  }
}

/** A sandbox's directories, once each (cpu and cpuacct are one when co-mounted). */
function v1Paths(dirs: V1Dirs): string[] {
  return [...new Set([dirs.cpu, dirs.cpuacct, dirs.memory, dirs.pids, dirs.cpuset ?? null].filter((d): d is string => d !== null))];
}

/**
 * The parent directory in each hierarchy: the caller's own cgroup, or the named parent (a directory
 * under one hierarchy's mount point, or a cgroup path, applied to every hierarchy).
 */
export function parentDirsV1(layout: LayoutV1, parent: string | null): Partial<Record<V1Controller, string>> | string {
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
    if (dir === null && controller === 'cpuset') continue; // optional: pinning is then refused
    if (dir === null) return `cgroup parent ${parent} is not visible in the ${controller} hierarchy (${h.mountPoint})`;
    dirs[controller] = dir;
  }
  return dirs;
}

export function createManagerV1(layout: LayoutV1, parent: string | null): CgroupManagerResult {
  const parents = parentDirsV1(layout, parent);
  if (typeof parents === 'string') return { manager: null, code: 'parent', reason: parents };
  // The cpuset hierarchy is optional: a parent missing or not writable there leaves pinning refused.
  if (parents.cpuset !== undefined && !usableDir(parents.cpuset)) delete parents.cpuset;
  for (const [controller, dir] of Object.entries(parents)) {
    try {
      if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      return { manager: null, code: 'parent', reason: `cgroup parent ${dir} (${controller}) cannot be used: ${errorText(err)}` };
    }
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      const uid = process.geteuid?.() ?? -1;
      return {
        manager: null,
        code: 'permission',
        reason:
          `cannot create cgroups in ${dir}: ${errorText(err)}` +
          (uid === 0
            ? ''
            : ` (cgroup v1 is not delegated to ordinary users, running as uid ${uid}: run as root, or on a cgroup v2 system in a delegated cgroup)`),
      };
    }
  }
  const uniqueParents = [...new Set(Object.values(parents))];
  sweepOnce(uniqueParents, { supervisors: false });
  const controllers = V1_CONTROLLERS.filter((c) => parents[c] !== undefined);

  // Swap accounting is on for every memory cgroup or none: looked up once, not per run.
  const memsw = parents.memory !== undefined && hasFile(parents.memory, 'memory.memsw.limit_in_bytes');
  /**
   * A new sandbox's directories and the steps that make them, limits written; `ahead`: then the
   * `tasks` files opened (the last steps, one per directory).
   */
  const making = (limits: CgroupLimits, ahead: boolean): { dirs: V1Dirs; steps: CgroupStep[] } => {
    checkLimits(limits);
    const name = nextSandboxName();
    const steps: CgroupStep[] = [];
    const made = new Map<string, string>(); // parent → its new dir (co-mounted hierarchies share one)
    const dirFor = (controller: V1Controller): string | null => {
      const p = parents[controller];
      if (p === undefined) return null;
      let dir = made.get(p);
      if (dir === undefined) {
        dir = inDir(p, name);
        steps.push({ kind: 'mkdir', path: dir });
        made.set(p, dir);
      }
      return dir;
    };
    // A cpu cgroup only for a quota (when cpu is not co-mounted with cpuacct, which accounts):
    // without one it would limit nothing and cost a mkdir, an rmdir and, made ahead, an fd.
    const pin = limits.cpusetCpus != null;
    const dirs: V1Dirs = {
      cpu: limits.cpuQuota !== null ? dirFor('cpu') : null,
      cpuacct: dirFor('cpuacct')!,
      memory: dirFor('memory')!,
      pids: dirFor('pids')!,
      cpuset: pin ? dirFor('cpuset') : null,
    };
    const mems = pin && parents.cpuset !== undefined ? readCgroupFile(parents.cpuset, 'cpuset.mems').trim() : '';
    steps.push(...limitStepsV1(dirs, limits, memsw, mems));
    if (ahead) steps.push(...v1Paths(dirs).map((dir): CgroupStep => ({ kind: 'open-w', path: inDir(dir, 'tasks') })));
    return { dirs, steps };
  };

  const manager: CgroupManager = {
    mode: 'cgroup1',
    via: parent === null ? 'caller' : 'parent-option',
    parents: uniqueParents,
    controllers,
    aheadFds: (limits) => v1Paths(making(limits, false).dirs).length,
    create(limits: CgroupLimits): SandboxCgroup {
      const { dirs, steps } = making(limits, false);
      makeNow(steps);
      return new SandboxCgroupV1(dirs);
    },
    async createLater(limits: CgroupLimits): Promise<SandboxCgroup> {
      const { dirs, steps } = making(limits, true);
      const results = await makeLater(steps);
      return new SandboxCgroupV1(dirs, results.slice(-v1Paths(dirs).length) as number[]);
    },
  };
  return { manager };
}
