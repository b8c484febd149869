// The one plain object handed to the native launcher (csrc/plan.cc checks it again).
// csrc/plan.cc reads these field names; the mount-op codes and flags are mirrored in csrc/wire.h.

/** Mount operations, executed in order by the sandbox's init before pivot_root. */
export const MountOp = {
  /** New root = bind of a host directory (`src`). */
  rootBind: 1,
  /** New root = empty tmpfs (the default host view is built on it). */
  rootTmpfs: 2,
  /** New root = overlay of `src` (read-only lower) with a throw-away tmpfs upper. */
  rootOverlay: 3,
  /** Bind `src` (host path) on `dst`; a missing `dst` is created as a file or a directory. */
  bind: 4,
  /** tmpfs on `dst`; `data` holds mount options such as "size=65536,mode=1777". */
  tmpfs: 5,
  /** A fresh proc for the sandbox's pid namespace on `dst`, with sensitive files masked. */
  proc: 6,
  /** A minimal /dev on `dst`: null zero full random urandom tty, shm, pts, fd links. */
  dev: 7,
  /** Symlink at `dst` pointing to `src`. */
  symlink: 8,
  /** Directory `dst`. */
  dir: 9,
  /** Remount `dst` (already a mount point) read-only. */
  remountRo: 10,
  /** A file at `dst` whose content is `data` (only on a tmpfs root). */
  file: 11,
} as const;

/** Mount-op flags. */
export const MountFlag = {
  readOnly: 1,
  /** Skip the op when `src` does not exist on the host. */
  optional: 2,
  /** Allow device nodes (the /dev binds need it). */
  dev: 4,
} as const;

export interface NativeMount {
  op: number;
  src: string;
  dst: string;
  data: string;
  flags: number;
}

export interface NativeRlimit {
  resource: number;
  soft: number; // -1 = RLIM_INFINITY
  hard: number;
}

/** Namespace flags (subset of CLONE_NEW*) the launcher is asked to create. */
export const Namespace = {
  net: 0x40000000, // CLONE_NEWNET
  ipc: 0x08000000, // CLONE_NEWIPC
  uts: 0x04000000, // CLONE_NEWUTS
  cgroup: 0x02000000, // CLONE_NEWCGROUP
} as const;

export interface NativePlan {
  /** argv[0] is looked up in PATH of `env` inside the sandbox when it has no slash. */
  argv: string[];
  /** "KEY=VALUE" strings. */
  env: string[];
  cwd: string;
  hostname: string;
  /** Namespace bits beyond user+pid+mount, which are always new. */
  namespaces: number;
  /** Ids inside the sandbox. */
  uid: number;
  gid: number;
  /** uid_map / gid_map text ("inside outside count\n"...). */
  uidMap: string;
  gidMap: string;
  /** true: the parent writes the maps (root caller, or newuidmap); false: init writes its own single-id map. */
  parentWritesMaps: boolean;
  /** The JS side writes the maps (newuidmap) after launch, then calls release(). */
  deferRelease: boolean;
  mounts: NativeMount[];
  rlimits: NativeRlimit[];
  /** BPF program (struct sock_filter[], native endianness) or null for no filter. */
  seccomp: Buffer | null;
  /** Host fds that become 0, 1, 2 inside. */
  stdio: [number, number, number];
  /** true: the command gets a new pty; stdio[] then carry the pty's slave side already. */
  tty: boolean;
  /** cgroup v2 directory fd for CLONE_INTO_CGROUP, or -1. */
  cgroupFd: number;
  /**
   * The cgroup.procs / tasks files joined by writing "0" to them: a run's, by its command's process;
   * a sandbox's, by its init (`pids: 1`; v1, or v2 without CLONE_INTO_CGROUP): each a path the addon
   * opens, or an fd of one the caller opened ahead
   * (the caller's: the addon never closes it).
   */
  cgroupProcs: (string | number)[];
  /** A network namespace from the pool (lib/netns-pool.ts) the sandbox is started in, or -1; then `namespaces` has no net bit. */
  netnsFd: number;
}
