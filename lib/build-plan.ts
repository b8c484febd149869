// A resolved configuration → the NativePlan the launcher executes. Everything the child needs
// is decided here, before clone.
import { MountFlag, MountOp, Namespace, type NativeMount, type NativePlan, type NativeRlimit } from './native-plan.js';
import { existsInImage } from './image/layers.js';
import { imageIdMap, storedOwner } from './image/owners.js';
import { imageRootMounts } from './image/root.js';
import { directoryRootMount } from './rootfs/directory.js';
import { hostPath } from './rootfs/host-path.js';
import { hostViewMounts } from './rootfs/host-view.js';
import { hostFileOf, rootfsIdentity } from './rootfs/identity.js';
import { SHM_DEFAULT_BYTES, TMPFS_DEFAULT_BYTES, tmpfsBytes, tmpfsData } from './tmpfs-caps.js';
import type { ResolvedConfig } from './validate.js';

/** Ids inside the sandbox: an ordinary user, so nothing inside is root even by name. */
export const INSIDE_UID = 1000;
export const INSIDE_GID = 1000;
/** When the caller is root, the sandbox's ids are this host id, which owns nothing (nobody). */
export const ROOT_CALLER_HOST_ID = 65534;

/** RLIMIT_* numbers (asm-generic, the same on x86_64 and arm64). */
export const Rlimit = { cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, nproc: 6, nofile: 7, as: 9 } as const;

export interface IdentityPlan {
  uidMap: string;
  gidMap: string;
  parentWritesMaps: boolean;
  deferRelease: boolean;
}

/** The host ids the sandbox's ids map to: the caller's own; a root caller's choice (`user`) or nobody. */
export function hostIdentity(
  callerUid: number,
  callerGid: number,
  user: { uid: number; gid: number } | null,
): { uid: number; gid: number } {
  if (callerUid !== 0) return { uid: callerUid, gid: callerGid };
  return user ?? { uid: ROOT_CALLER_HOST_ID, gid: ROOT_CALLER_HOST_ID };
}

/** The host ids a root caller's command runs as (identity()'s maps); null for other callers (their own). */
export function commandHostIds(cfg: ResolvedConfig, callerUid: number, callerGid: number): { uid: number; gid: number } | null {
  if (callerUid !== 0) return null;
  if (cfg.user !== null || cfg.imageRun === null) return hostIdentity(callerUid, callerGid, cfg.user);
  return { uid: storedOwner(cfg.imageRun.uid), gid: storedOwner(cfg.imageRun.gid) };
}

/** The ids the command has inside: an image's User, else INSIDE_UID/INSIDE_GID. */
export function insideIds(cfg: ResolvedConfig): { uid: number; gid: number } {
  return cfg.imageRun === null ? { uid: INSIDE_UID, gid: INSIDE_GID } : { uid: cfg.imageRun.uid, gid: cfg.imageRun.gid };
}

/**
 * The id maps. With one id mapped, it is the command's own (`inside`); subordinate maps are fixed
 * (lib/subids.ts). A root caller running an image maps the range its store's files belong to
 * (lib/image/owners.ts), so the image's root owns the image's files inside.
 */
export function identity(
  callerUid: number,
  callerGid: number,
  subordinate: boolean,
  user: { uid: number; gid: number } | null = null,
  inside = { uid: INSIDE_UID, gid: INSIDE_GID },
  image = false,
): IdentityPlan {
  const root = callerUid === 0;
  if (subordinate && !root) {
    // newuidmap/newgidmap write the maps after launch (lib/subids.ts).
    return { uidMap: '', gidMap: '', parentWritesMaps: true, deferRelease: true };
  }
  if (root && image) {
    return {
      uidMap: imageIdMap(inside.uid, user?.uid ?? null),
      gidMap: imageIdMap(inside.gid, user?.gid ?? null),
      parentWritesMaps: true,
      deferRelease: false,
    };
  }
  const { uid: hostUid, gid: hostGid } = hostIdentity(callerUid, callerGid, user);
  return {
    uidMap: `${inside.uid} ${hostUid} 1\n`,
    gidMap: `${inside.gid} ${hostGid} 1\n`,
    // Only a privileged parent may map an id other than the caller's own.
    parentWritesMaps: root,
    deferRelease: false,
  };
}

function mountList(cfg: ResolvedConfig): NativeMount[] {
  const user: NativeMount[] = [];
  const capped = (asked: number | null, fallback: number) => tmpfsData(tmpfsBytes(asked, fallback, cfg.memoryBytes));
  for (const t of cfg.tmpfs) {
    user.push({ op: MountOp.tmpfs, src: '', dst: t.dst, data: capped(t.size, TMPFS_DEFAULT_BYTES), flags: 0 });
  }
  for (const b of cfg.binds) {
    user.push({ op: MountOp.bind, src: hostPath(b.src), dst: b.dst, data: '', flags: b.rw ? 0 : 1 });
  }
  // An image on the host's network resolves names as the host does, as docker gives a container
  // the host's resolv.conf (the default root binds it too: rootfs/host-view.ts). Only on a file the
  // image has: making one would need write access to its /etc, which a root caller's sandbox lacks
  // (docs/images-run.md, "Owners").
  if (cfg.imageRun !== null && cfg.network === 'host' && existsInImage(cfg.imageRun.image, '/etc/resolv.conf')) {
    user.unshift({
      op: MountOp.bind,
      src: hostPath('/etc/resolv.conf'),
      dst: '/etc/resolv.conf',
      data: '',
      flags: MountFlag.readOnly | MountFlag.optional,
    });
  }
  // On /dev/shm, which the /dev op makes: a tmpfs of its own, sized.
  if (cfg.shmSize !== null)
    user.push({ op: MountOp.tmpfs, src: '', dst: '/dev/shm', data: capped(cfg.shmSize, SHM_DEFAULT_BYTES), flags: 0 });
  const base: NativeMount[] = [
    { op: MountOp.proc, src: '', dst: '/proc', data: '', flags: 0 },
    // The /dev entry's data is its /dev/shm's mount options.
    { op: MountOp.dev, src: '', dst: '/dev', data: capped(null, SHM_DEFAULT_BYTES), flags: 0 },
  ];
  // /tmp is always a fresh tmpfs; a --tmpfs /tmp of the user's is that one.
  if (!cfg.tmpfs.some((t) => t.dst === '/tmp')) {
    base.push({ op: MountOp.tmpfs, src: '', dst: '/tmp', data: capped(null, TMPFS_DEFAULT_BYTES), flags: 0 });
  }
  // A rootfs directory gets its identity files bound over its own (lib/rootfs/identity.ts).
  const identityBinds: NativeMount[] =
    cfg.rootfs === null
      ? []
      : rootfsIdentity(cfg.rootfs, INSIDE_UID, INSIDE_GID, cfg.hostname).map((f) => ({
          op: MountOp.bind,
          src: hostFileOf(f.data),
          dst: f.dst,
          data: '',
          flags: MountFlag.readOnly,
        }));
  // Mount points the root must have, or be overlaid to get; those in /dev are made by the /dev op,
  // the identity files are there (rootfsIdentity binds only over files the rootfs has).
  const mountPoints = [...base, ...user]
    .map((m) => m.dst)
    .filter((d) => !d.startsWith('/dev/'))
    .concat(cfg.cwd);
  let root: NativeMount[];
  let makeCwd = cfg.rootfs === null && cfg.imageRun === null && cfg.cwd !== '/';
  if (cfg.imageRun !== null) {
    const made = imageRootMounts(cfg.imageRun, mountPoints);
    root = made.mounts;
    makeCwd = made.missing.includes(cfg.cwd);
  } else if (cfg.rootfs !== null) {
    root = [directoryRootMount(hostPath(cfg.rootfs), mountPoints, cfg.writable ? cfg.writableSize : null), ...identityBinds];
  } else {
    root = hostViewMounts(INSIDE_UID, INSIDE_GID, cfg.hostname, cfg.network);
  }
  // The cwd must exist: it is made where the root does not have it (on a tmpfs, or in the upper layer).
  const cwd: NativeMount[] = makeCwd ? [{ op: MountOp.dir, src: '', dst: cfg.cwd, data: '', flags: 0 }] : [];
  // Read-only root last (mount points above were made while it was still writable), unless the
  // run's root is writable.
  const readOnly: NativeMount[] = cfg.writable ? [] : [{ op: MountOp.remountRo, src: '', dst: '/', data: '', flags: 0 }];
  return [...root, ...base, ...user, ...cwd, ...readOnly];
}

/**
 * The command's rlimits: the caller's `ulimits`, then the sandbox's own, which win where they are
 * lower. No core dumps unless `ulimits` asks for them.
 */
export function rlimits(cfg: ResolvedConfig, cgroupEnforced: boolean): NativeRlimit[] {
  const own = ownRlimits(cfg, cgroupEnforced);
  if (!cfg.ulimits.some((u) => u.resource === Rlimit.core)) own.unshift({ resource: Rlimit.core, soft: 0, hard: 0 });
  const lower = (a: number, b: number): number => (a === -1 ? b : b === -1 ? a : Math.min(a, b));
  const out = cfg.ulimits.map((u) => ({ ...u }));
  for (const r of own) {
    const asked = out.find((u) => u.resource === r.resource);
    if (asked === undefined) out.push(r);
    else [asked.soft, asked.hard] = [lower(asked.soft, r.soft), lower(asked.hard, r.hard)];
  }
  return out;
}

function ownRlimits(cfg: ResolvedConfig, cgroupEnforced: boolean): NativeRlimit[] {
  const out: NativeRlimit[] = [];
  if (cfg.timeLimitMs !== null) {
    // A per-process backstop to the tree-wide limit the runner enforces: SIGXCPU at the soft
    // limit, SIGKILL at the hard one.
    const soft = Math.ceil(cfg.timeLimitMs / 1000) + (cgroupEnforced ? 1 : 0);
    out.push({ resource: Rlimit.cpu, soft, hard: soft + 1 });
  }
  if (cfg.outputLimitBytes !== null) out.push({ resource: Rlimit.fsize, soft: cfg.outputLimitBytes, hard: cfg.outputLimitBytes });
  if (!cgroupEnforced) {
    if (cfg.memoryBytes !== null) out.push({ resource: Rlimit.as, soft: cfg.memoryBytes, hard: cfg.memoryBytes });
    if (cfg.pids !== null) out.push({ resource: Rlimit.nproc, soft: cfg.pids, hard: cfg.pids });
  }
  return out;
}

export interface PlanInputs {
  argv: string[];
  cfg: ResolvedConfig;
  stdio: [number, number, number];
  seccomp: Buffer | null;
  cgroupFd: number;
  cgroupProcs: (string | number)[];
  cgroupEnforced: boolean;
  /** A pooled network namespace for network 'none', or -1 (init makes one). */
  netnsFd: number;
  callerUid: number;
  callerGid: number;
  /** A run on a warm sandbox, whose filesystem is built: the plan carries no mounts. */
  withoutMounts?: boolean;
}

export function buildPlan(p: PlanInputs): NativePlan {
  const { cfg } = p;
  let namespaces = Namespace.ipc | Namespace.uts | Namespace.cgroup;
  const pooledNet = cfg.network === 'none' && p.netnsFd >= 0;
  if (cfg.network === 'none' && !pooledNet) namespaces |= Namespace.net;
  return {
    argv: p.argv,
    env: Object.entries(cfg.env).map(([k, v]) => `${k}=${v}`),
    cwd: cfg.cwd,
    hostname: cfg.hostname,
    namespaces,
    ...insideIds(cfg),
    ...identity(p.callerUid, p.callerGid, cfg.idMap === 'subordinate', cfg.user, insideIds(cfg), cfg.imageRun !== null),
    mounts: p.withoutMounts === true ? [] : mountList(cfg),
    rlimits: rlimits(cfg, p.cgroupEnforced),
    seccomp: p.seccomp,
    stdio: p.stdio,
    tty: cfg.tty,
    cgroupFd: p.cgroupFd,
    cgroupProcs: p.cgroupProcs,
    netnsFd: pooledNet ? p.netnsFd : -1,
  };
}
