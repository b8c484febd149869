// The report of `sandbox doctor`: flat, JSON-ready, null rather than absent.

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

export interface Check {
  /** Stable machine name, e.g. 'userns', 'cgroup-limits'. */
  id: string;
  /** Short human name, the table's second column. */
  title: string;
  status: CheckStatus;
  /** One line: what was found and how (probed, by file, by version). */
  detail: string;
  /** What to do about it; null when there is nothing to do. */
  fix: string | null;
  /** true: `sandbox exec` with default options cannot work when this check fails. */
  neededByDefaults: boolean;
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';
import type { Enforcement } from '../result.js';

export type { Enforcement };

/** One v1 controller the limits use, in the caller's cgroup of that hierarchy. */
export interface CgroupV1Controller {
  controller: string;
  /** Filesystem directory of the caller's cgroup in this controller's hierarchy; null when not mounted. */
  dir: string | null;
  writable: boolean;
}

export interface CgroupFacts {
  /** What is mounted (lib/cgroup/detect.ts mountedCgroups). */
  mode: CgroupMode;
  /** The version the runtime's limits use here (lib/cgroup/detect.ts detectLayout); null: none usable. */
  limitsOn: 'cgroup1' | 'cgroup2' | null;
  /** Why no cgroup layout is usable, in the runtime's words; null when one is. */
  unavailable: string | null;
  /** Controllers attached to v1 hierarchies (from mountinfo). */
  v1Controllers: string[];
  /** Mount point of the cgroup2 hierarchy, or null. */
  v2Mount: string | null;
  /** The caller's cgroup in the v2 hierarchy ("0::" line of /proc/self/cgroup), or null. */
  v2Path: string | null;
  /** That cgroup's directory, or null when it is not visible in any cgroup2 mount. */
  v2Dir: string | null;
  /** The caller may create children there and move processes (directory, cgroup.procs, cgroup.subtree_control). */
  v2Writable: boolean;
  /** cgroup.controllers of the caller's v2 cgroup: what its children may use. */
  v2Controllers: string[];
  /** cgroup.subtree_control of the caller's v2 cgroup: what is enabled for its children now. */
  v2SubtreeControl: string[];
  /** cpu, cpuacct, memory, pids on v1 (empty unless the limits would use v1). */
  v1: CgroupV1Controller[];
  /** What the launcher can use for limits with default options (RunResult.enforcement). */
  enforcement: Enforcement;
  /** How the sandbox cgroups' parent would be chosen for this caller (RunResult.cgroupVia); null under rlimits. */
  route: 'caller' | 'own-subtree' | 'systemd-scope' | null;
  /** Other processes in the caller's v2 cgroup (it cannot hand controllers down while they are there). */
  v2Others: number;
}

export interface ContainerFacts {
  /** This process runs in a container (isolated from the host by a runtime). */
  inContainer: boolean;
  /** docker, podman, kubernetes, lxc, systemd-nspawn, ... or null when unknown/none. */
  engine: string | null;
  /** What the verdict rests on, one phrase each. */
  evidence: string[];
  /** In the host's first user / pid namespace (null when /proc/self/ns cannot be read). */
  initialUserNs: boolean | null;
  initialPidNs: boolean | null;
}

export interface DoctorReport {
  /** Everything the defaults need works (the exit status is 0). */
  ok: boolean;
  exitCode: 0 | 1;
  kernel: { release: string; machine: string };
  uid: number;
  user: string | null;
  cgroup: CgroupFacts;
  container: ContainerFacts;
  checks: Check[];
  /** How long diagnose() took. */
  durationMs: number;
}
