// Public option types of the Sandbox API. The CLI's long options in camelCase (docs/api.md).
import type { Readable, Writable } from 'node:stream';
import type { ResolvedImage } from './image/types.js';

/** A bind mount: `src` on the host appears at `dst` inside; read-only unless `rw`. */
export interface BindMount {
  src: string;
  dst: string;
  rw?: boolean;
}

/** A tmpfs mount at `dst` inside; `size` caps it (bytes or '64m'). */
export interface TmpfsMount {
  dst: string;
  size?: number | string;
}

/** A host identity: uid, and gid (default: the same number as uid). */
export interface HostUser {
  uid: number;
  gid?: number;
}

/** One rlimit: both soft and hard as one number, or each; -1 is unlimited (RLIM_INFINITY). */
export type Ulimit = number | { soft: number; hard: number };

/** Seccomp policy: the default filter, none, or the default with changes. */
export type SeccompOption = 'default' | 'none' | { deny?: string[]; allow?: string[] };

/** Reusable configuration of a sandbox (`new Sandbox(options)`). */
export interface SandboxOptions {
  /** Root directory; default: a read-only view of the host's /usr, /bin, /sbin, /lib*, selected /etc files. */
  rootfs?: string;
  /**
   * Run in an image of the store (`sandbox image pull/import`): its name, or an image the store
   * resolved already. Its Env, WorkingDir, User, Entrypoint and Cmd apply as docker applies them
   * (docs/images-run.md). Excludes `rootfs`.
   */
  image?: string | ResolvedImage;
  /** The image's Entrypoint replaced (an empty array clears it); the image's Cmd is then not used. */
  entrypoint?: string[];
  /**
   * With `image` or `rootfs`: the root is writable for each run, changes going to a layer of the
   * run's own on a tmpfs, discarded when the run ends. Not with `pool`.
   */
  writable?: boolean;
  /** Most bytes the writable layer holds (bytes or '512m'); default '1g'. It is memory (tmpfs): it counts toward `memory`. */
  writableSize?: number | string;
  binds?: BindMount[];
  tmpfs?: TmpfsMount[];
  /** Environment of the command; the host's is never inherited. */
  env?: Record<string, string>;
  /** Working directory inside (default '/'). */
  cwd?: string;
  /** UTS hostname inside (default 'sandbox'). */
  hostname?: string;
  /** 'none': a network namespace of its own with only loopback (default); 'host': the host's network. */
  network?: 'none' | 'host';
  /** CPU quota in cores (0.5 = half a core), from 0.01 to the number of CPUs. */
  cpuQuota?: number;
  /**
   * The CPUs the sandbox may run on, as a list ("0-1,3": docker's --cpuset-cpus), enforced by a
   * cpuset cgroup; where none can be had the run is refused (SandboxError stage 'cgroup').
   */
  cpusetCpus?: string;
  /** Memory cap, swap included: bytes or '256m'. */
  memory?: number | string;
  /**
   * Most processes and threads at once in the sandbox, its init included (init is pid 1 inside:
   * `pids: 32` leaves room for the command and 30 more), 1 to 4194304. The same with and without
   * `pool`: a warm sandbox's init sits outside its runs' cgroups, so their `pids.max` is one less.
   */
  pids?: number;
  /** CPU time limit in seconds, user+sys, whole tree. A number: sizes alone take unit strings. */
  timeLimit?: number;
  /** Wall-clock limit in seconds. */
  wallTimeLimit?: number;
  /** Most bytes on stdout, and separately on stderr. */
  outputLimit?: number | string;
  /** Parent cgroup directory for the sandbox's cgroup; it must exist. */
  cgroupParent?: string;
  /** Throw rather than fall back to rlimits when no cgroup can be used. */
  requireCgroup?: boolean;
  seccomp?: SeccompOption;
  /** Give the command a new pseudo-terminal of its own. */
  tty?: boolean;
  /**
   * 'single' (default): one id inside, the caller's own (root: 65534). 'subordinate' (rootless
   * only): ids 0-65535 inside, from the caller's /etc/subuid and /etc/subgid ranges through
   * newuidmap/newgidmap, with uid 1000 still the caller.
   */
  idMap?: 'single' | 'subordinate';
  /**
   * Keep this many warm sandboxes: built once (namespaces, filesystem) and reused run after run,
   * reset in between (docs/api.md, "Warm sandboxes"). Runs beyond the idle ones build their own.
   * Default 0. Call `close()` when done.
   */
  pool?: number;
  /**
   * Seconds a sandbox a run used is kept warm after the run, for the next one (beyond `pool`'s),
   * then ended. It keeps Node from nothing and ends with it (what it holds meanwhile: docs/api.md,
   * "Warm sandboxes"). Default 2; 0: every run beyond `pool`'s builds a sandbox used once.
   */
  idleTimeout?: number;
  /**
   * Root callers only: the host uid (and gid, default the same number) the sandbox's ids map to,
   * e.g. the owner of a directory bound `rw: true`. Default: 65534 (nobody), which owns nothing.
   * Inside, the command is uid 1000 either way. A non-root caller may only name its own ids.
   */
  user?: HostUser;
  /** rlimits of the command by name (nofile, nproc, core, stack, ...: docs/cli.md); the sandbox's own limits win where lower. */
  ulimits?: Record<string, Ulimit>;
  /** Size of /dev/shm (bytes or '64m'); default: the tmpfs default, half of RAM, counted against `memory`. */
  shmSize?: number | string;
}

/**
 * `{ fd }`: an open fd of the caller's, given to the command as it is (as 'inherit' gives 0-2) and
 * never closed by the sandbox (the `sandbox` server passes its clients' fds this way). Output that
 * is counted (an `outputLimit`) or comes from a terminal (`tty`) is written to it by the parent: the
 * result comes once the last of it is written, so the caller may close the fd then. Input for a
 * terminal is read by the parent until the run ends, and not after: a pipe through a file
 * description of the sandbox's own, so no read of it outlives the run.
 */
export type StdinOption = string | Buffer | Readable | { file: string } | { fd: number } | 'inherit' | 'ignore' | 'pipe';
export type OutputOption = 'pipe' | 'inherit' | 'ignore' | { file: string } | { fd: number } | Writable;

/** Per-run options (`sandbox.run(argv, runOptions)`). */
export interface RunOptions {
  stdin?: StdinOption;
  stdout?: OutputOption;
  stderr?: OutputOption;
  /** Added to (and overriding) the sandbox's environment. */
  env?: Record<string, string>;
  cwd?: string;
  timeLimit?: number;
  wallTimeLimit?: number;
  outputLimit?: number | string;
  signal?: AbortSignal;
}
