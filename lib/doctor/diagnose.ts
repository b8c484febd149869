// diagnose(): gather the facts, run the probes in parallel, and decide each check.
import { cgroupChecks, cgroupRoutesCheck, detectCgroup } from './cgroup.js';
import {
  cgroupFeatureChecks,
  containerCheck,
  idmapCheck,
  kernelCheck,
  mountsCheck,
  overlayCheck,
  procCheck,
  seccompCheck,
  syscallChecks,
  usernsCheck,
} from './checks.js';
import { detectContainer } from './container.js';
import { imageStoreCheck } from './image-store.js';
import { passwdName } from './parse.js';
import { runProbes } from './probes.js';
import { realSystem, type System } from './system.js';
import type { Check, DoctorReport } from './types.js';

/** A check that threw is reported, not propagated: doctor must answer on the strangest machine. */
function guarded(id: string, title: string, neededByDefaults: boolean, fn: () => Check | Check[]): Check[] {
  try {
    const r = fn();
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return [{ id, title, status: 'warn', detail: `check failed: ${message}`, fix: null, neededByDefaults }];
  }
}

export async function diagnose(sys: System = realSystem()): Promise<DoctorReport> {
  const start = performance.now();
  const probing = runProbes(sys);
  const cgroup = detectCgroup(sys);
  const container = detectContainer(sys);
  const probes = await probing;

  const needed = [
    ...guarded('userns', 'user namespaces', true, () => usernsCheck(sys, probes, container)),
    ...guarded('mounts', 'mounts, pivot_root', true, () => mountsCheck(sys, probes, container)),
    ...guarded('proc', 'proc mount', true, () => procCheck(sys, probes, container)),
    ...guarded('seccomp', 'seccomp', true, () => seccompCheck(sys, container)),
  ];
  const failed = needed.some((c) => c.status === 'fail');
  const checks: Check[] = [
    ...guarded('kernel', 'kernel', false, () => kernelCheck(sys)),
    ...needed,
    ...guarded('cgroup', 'cgroup', false, () => cgroupChecks(sys, cgroup, container)),
    ...guarded('cgroup-routes', 'cgroup routes', false, () => cgroupRoutesCheck(sys, cgroup)),
    ...guarded('syscalls', 'system calls', false, () => syscallChecks(sys, probes)),
    ...guarded('cgroup-features', 'cgroup v2 features', false, () => cgroupFeatureChecks(sys, probes, cgroup)),
    ...guarded('container', 'container', false, () => containerCheck(container, failed)),
    ...guarded('idmap', 'newuidmap, subids', false, () => idmapCheck(sys, probes)),
    ...guarded('overlay', 'overlayfs (images)', false, () => overlayCheck(sys)),
    ...guarded('image-store', 'image store', false, () => imageStoreCheck()),
  ];
  const ok = !checks.some((c) => c.neededByDefaults && c.status === 'fail');
  return {
    ok,
    exitCode: ok ? 0 : 1,
    kernel: { release: sys.release, machine: sys.machine },
    uid: sys.uid,
    user: passwdName(sys.readFile('/etc/passwd'), sys.uid),
    cgroup,
    container,
    checks,
    durationMs: Math.round(performance.now() - start),
  };
}
