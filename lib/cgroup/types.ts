// The cgroup layer's public types (re-exported by ./index.ts).

export type CgroupMode = 'cgroup1' | 'cgroup2';

/**
 * Where the sandbox cgroups' parent came from (docs/cgroups-v2.md): the caller's own cgroup (on v2
 * possibly after this process moved itself into a leaf of it), the cgroupParent option, the
 * project's own subtree (root on v2), or a delegated scope of the user's systemd holding this process.
 */
export type CgroupVia = 'caller' | 'parent-option' | 'own-subtree' | 'systemd-scope';

/** Limits for one sandbox; null = not limited by this cgroup. */
export interface CgroupLimits {
  /** CPU bandwidth in cores (0.5 = half a core), enforced over a 100 ms period. */
  cpuQuota: number | null;
  /** Memory cap in bytes, swap included (swap is not allowed inside the cap). */
  memoryBytes: number | null;
  /** Most tasks (processes and threads) at once. */
  pids: number | null;
  /** The CPUs the tree may run on (cpuset.cpus, "0-1,3"); null or absent: the parent's. */
  cpusetCpus?: string | null;
}

export interface CgroupUsage {
  /** CPU time of the whole tree; userUs + sysUs is the kernel's exact scheduler total. */
  userUs: number;
  sysUs: number;
  /** The file the exact total came from (the user/sys split may be scaled from tick counts: docs/cgroups.md). */
  cpuSource: 'cpu.stat' | 'cpuacct.stat' | 'cpuacct.usage';
  /** Peak memory charged to the cgroup; null when the kernel does not keep one (v2 before 5.19). */
  memoryPeakBytes: number | null;
  memorySource: 'memory.peak' | 'memory.max_usage_in_bytes' | null;
  /** memory.stat at the time of reading: v2 anon/file, v1 total_rss/total_cache; null when unknown. */
  anonBytes: number | null;
  fileBytes: number | null;
  /** OOM kills inside the cgroup: v2 memory.events oom_kill; v1 memory.oom_control oom_kill (kernel >= 4.13) else 0. */
  oomKills: number;
  /** v1: times a charge hit the limit (memory.failcnt + memory.memsw.failcnt); null on v2. */
  memoryFailcnt: number | null;
}

export interface MemorySplit {
  anonBytes: number;
  fileBytes: number;
}

export interface SandboxCgroup {
  readonly mode: CgroupMode;
  /** The directories created (one per hierarchy on v1, deduplicated when co-mounted). */
  readonly paths: string[];
  /** v2: O_RDONLY|O_DIRECTORY|O_CLOEXEC fd of the leaf for clone3(CLONE_INTO_CGROUP); v1: -1. */
  readonly fd: number;
  /** The files a run's command process (or, with `pids: 1`, the sandbox's init) joins by writing "0" (v1: `tasks` of every hierarchy; v2: cgroup.procs). */
  readonly procsFiles: string[];
  /**
   * What a run's command process (or init) joins by writing "0": procsFiles, or fds of them opened with
   * the cgroup when it was made ahead on the addon's lane (createLater). The fds are the cgroup's:
   * end(), destroy() and destroyNow() close them.
   */
  readonly join: (string | number)[];
  /** user+sys of the whole tree so far, in µs; reads one file (for the CPU-time-limit poller). */
  cpuUsageUs(): number;
  /** memory.stat now (v2 anon/file, v1 total_rss/total_cache); one file, sampled while the command runs. */
  memorySplit(): MemorySplit | null;
  /** Full read, after the run. */
  usage(): CgroupUsage;
  /** SIGKILL everything in the cgroup (v2: cgroup.kill, else freeze + kill until empty; v1: kill until empty). */
  kill(): void;
  /** Close the fd and remove the directories (retrying while exiting tasks keep them busy); ENOENT is not an error. */
  destroy(): Promise<void>;
  /**
   * After the run (everything in it has exited): its last figures read and its directories removed,
   * in one job on the addon's lane (csrc/lane.h); null when the figures could not be read.
   */
  end(): Promise<CgroupUsage | null>;
  /** A cgroup nothing ever ran in: close the fd and remove the directories on this thread, errors ignored (at exit). */
  destroyNow(): void;
  /**
   * Its run has been launched or sent with copies of `fd` and `join` (init's, the command's): this
   * process's are closed now, not at the run's end (a running sandbox then holds no cgroup fd here).
   */
  joined(): void;
}

export interface CgroupManager {
  readonly mode: CgroupMode;
  readonly via: CgroupVia;
  /** The directories sandbox cgroups are created in (one per hierarchy on v1). */
  readonly parents: string[];
  /** Controllers available to the sandbox cgroups ('cpu' is optional: without it cpuQuota is refused). */
  readonly controllers: string[];
  /** mkdir + a few writes; throws SandboxError (stage 'cgroup') naming the file and the cause. */
  create(limits: CgroupLimits): SandboxCgroup;
  /**
   * The same made on the addon's lane (./reserve.ts: cgroups made ahead of their runs), with the
   * files a run joins by already open (`join`): opening a cgroup file waits on the kernel's locks of
   * the cgroup tree while other cgroups are made and removed, which the event loop's thread need not.
   */
  createLater(limits: CgroupLimits): Promise<SandboxCgroup>;
  /** The fds a cgroup made ahead (createLater) holds until its run: the files it is joined by, v2's directory too. */
  aheadFds(limits: CgroupLimits): number;
}

/** Why no cgroup can be used: the CLI falls back to rlimits and reports it. */
export type CgroupUnavailableCode =
  | 'no-cgroupfs' // no usable cgroup mount, or our cgroup is not visible in it
  | 'controllers' // a required controller (memory, pids; cpuacct on v1) is missing
  | 'permission' // the parent is not writable (rootless on v1, v2 without delegation)
  | 'busy' // v2: other processes sit in the parent, so controllers cannot be enabled
  | 'parent'; // the named parent does not exist or is not a cgroup

export type CgroupManagerResult = { manager: CgroupManager } | { manager: null; reason: string; code: CgroupUnavailableCode };
