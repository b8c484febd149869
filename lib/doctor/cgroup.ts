// cgroup mode, the caller's cgroup, and whether the limits can use it (docs/cgroups.md: the sandbox's cgroup is a
// child of the caller's cgroup when the caller may write there, else limits fall back to rlimits).
import { cgroupDirFor, detectLayout, mountedCgroups, V1_CONTROLLERS, V2_CONTROLLERS, V2_REQUIRED } from '../cgroup/detect.js';
import { parseProcCgroup } from '../cgroup/proc.js';
import { userBus } from '../cgroup/systemd-scope.js';
import { parseWords } from './parse.js';
import { which, type System } from './system.js';
import type { CgroupFacts, Check, ContainerFacts, Enforcement } from './types.js';

/**
 * Mode and usable cgroups, from the runtime's own detection (lib/cgroup/detect.ts: which version the
 * limits use, where the caller's cgroups are) and access(2) on the cgroup files.
 */
export function detectCgroup(sys: System): CgroupFacts {
  const mountinfo = sys.readFile('/proc/self/mountinfo') ?? '';
  const procCgroup = sys.readFile('/proc/self/cgroup') ?? '';
  const mounted = mountedCgroups(mountinfo);
  const found = detectLayout(mountinfo, procCgroup);
  const layout = found.layout;
  const mode = mounted.mode;
  const v1Controllers = mounted.v1Controllers;
  const limitsOn = layout?.mode ?? null;

  const v2Path = parseProcCgroup(procCgroup).find((l) => l.hierarchyId === 0)?.path ?? null;
  let v2Mount: string | null = mounted.v2Mounts[0]?.mountPoint ?? null;
  let v2Dir: string | null = null;
  if (layout?.mode === 'cgroup2') {
    v2Dir = layout.dir;
    v2Mount = layout.mountPoint;
  } else if (v2Path !== null) {
    // The limits are not on v2 here; where the caller's v2 cgroup is still tells what v2 offers.
    for (const m of mounted.v2Mounts) {
      const dir = cgroupDirFor(m, v2Path);
      if (dir !== null) {
        v2Dir = dir;
        v2Mount = m.mountPoint;
        break;
      }
    }
  }
  // Creating the sandbox's cgroup needs the directory; moving its init there needs cgroup.procs of the
  // common ancestor, which is this cgroup; enabling controllers for it needs cgroup.subtree_control
  // (Documentation/admin-guide/cgroup-v2.rst, "Delegation Containment").
  const v2Writable =
    v2Dir !== null && sys.writable(v2Dir) && sys.writable(`${v2Dir}/cgroup.procs`) && sys.writable(`${v2Dir}/cgroup.subtree_control`);
  const v2Controllers = v2Dir === null ? [] : parseWords(sys.readFile(`${v2Dir}/cgroup.controllers`));
  const v2SubtreeControl = v2Dir === null ? [] : parseWords(sys.readFile(`${v2Dir}/cgroup.subtree_control`));

  const limitsOnV2 = limitsOn === 'cgroup2';
  const v1 =
    layout?.mode === 'cgroup1'
      ? V1_CONTROLLERS.map((controller) => {
          const dir = layout.hierarchies[controller]?.dir ?? null;
          const writable = dir !== null && sys.writable(dir) && sys.writable(`${dir}/cgroup.procs`);
          return { controller, dir, writable };
        })
      : [];

  // The order of lib/cgroup/index.ts (managerV2): the caller's cgroup when it can hand the
  // controllers down (they are enabled already, or nothing but this process is in it); else root's
  // own subtree; else a delegated scope from the user's systemd.
  const v2Others = v2Dir === null ? 0 : parseWords(sys.readFile(`${v2Dir}/cgroup.procs`)).filter((p) => p !== String(process.pid)).length;
  const handsDown = V2_REQUIRED.every((c) => v2SubtreeControl.includes(c)) || v2Others === 0;
  let enforcement: Enforcement = 'rlimit';
  let route: CgroupFacts['route'] = null;
  if (limitsOnV2 && v2Writable && handsDown) route = 'caller';
  else if (limitsOnV2 && sys.uid === 0 && v2Mount !== null && sys.writable(v2Mount)) route = 'own-subtree';
  else if (limitsOnV2 && sys.uid !== 0 && userManagerReachable(sys)) route = 'systemd-scope';
  if (route !== null) enforcement = 'cgroup2';
  // On v1 the runtime makes a child in every mounted hierarchy it uses, or uses none (lib/cgroup/v1.ts).
  else if (v1.length > 0 && v1.every((c) => c.dir === null || c.writable)) {
    enforcement = 'cgroup1';
    route = 'caller';
  }

  return {
    mode,
    limitsOn,
    unavailable: layout === null ? found.reason : null,
    v1Controllers,
    v2Mount,
    v2Path,
    v2Dir,
    v2Writable,
    v2Controllers,
    v2SubtreeControl,
    v1,
    enforcement,
    route,
    v2Others,
  };
}

/** The user's systemd can be asked for a scope: its bus is there and busctl to call it (lib/cgroup/systemd-scope.ts). */
function userManagerReachable(sys: System): boolean {
  return userBus(sys.env as NodeJS.ProcessEnv, (p) => sys.stat(p) !== null) !== null && which(sys, 'busctl') !== null;
}

/** "cgroup-routes": which way a root caller and an ordinary user get their cgroups here (docs/cgroups-v2.md). */
export function cgroupRoutesCheck(sys: System, cg: CgroupFacts): Check {
  const check: Check = { id: 'cgroup-routes', title: 'cgroup routes', status: 'info', detail: '', fix: null, neededByDefaults: false };
  if (cg.limitsOn !== 'cgroup2') {
    check.detail =
      cg.mode === 'none'
        ? 'no cgroups: rlimits for everyone'
        : 'cgroup v1: root uses its own cgroup; ordinary users get rlimits (v1 is not delegated)';
    return check;
  }
  const here =
    cg.route === null
      ? 'rlimits'
      : cg.route === 'own-subtree'
        ? `${cg.v2Mount}/sandbox`
        : cg.route === 'systemd-scope'
          ? 'a delegated scope of its systemd'
          : `its own cgroup ${cg.v2Path}`;
  const root = `root: its own cgroup when nothing else is in it (a service, a container), else ${cg.v2Mount}/sandbox`;
  const underSystemd = sys.stat('/run/systemd/system') !== null;
  const user = underSystemd
    ? 'an ordinary user: a delegated cgroup it is alone in, else a delegated scope of its systemd (user@UID.service, a login session)'
    : 'an ordinary user: only a delegated cgroup it is alone in (no systemd here to ask for one), else rlimits';
  check.detail = `this caller (uid ${sys.uid}): ${here}; ${root}; ${user}`;
  return check;
}

const SYSTEMD_RUN = 'systemd-run --user --scope -p Delegate=yes -- sandbox exec ...';

function containerCgroupFix(container: ContainerFacts): string {
  switch (container.engine) {
    case 'podman':
      return 'give the container a writable cgroup of its own: `podman run --cgroupns=private --systemd=always ...` (or --privileged)';
    case 'kubernetes':
      return "the pod's cgroup is read-only to containers unless `securityContext.privileged: true`; limits fall back to rlimits otherwise";
    case 'lxc':
      return "LXD/Incus: `lxc config set CONTAINER security.nesting=true` delegates the container's cgroup to it";
    default:
      return 'give the container a writable cgroup of its own: `docker run --cgroupns=private --privileged ...` (Docker mounts /sys/fs/cgroup read-only otherwise)';
  }
}

/** "cgroup-mode" (info) and "cgroup-limits" (ok / warn with the way to get a usable cgroup). */
export function cgroupChecks(sys: System, cg: CgroupFacts, container: ContainerFacts): Check[] {
  const root = sys.uid === 0;
  let modeDetail: string;
  switch (cg.mode) {
    case 'v2':
      modeDetail = `v2 (unified) at ${cg.v2Mount}`;
      break;
    case 'v1':
      modeDetail = `v1 (${cg.v1Controllers.join(' ')})`;
      break;
    case 'hybrid': {
      const v2c = cg.v2Controllers.length > 0 ? cg.v2Controllers.join(' ') : 'no controllers';
      const onV1 = V1_CONTROLLERS.filter((c) => cg.v1Controllers.includes(c));
      modeDetail = `hybrid: v1 has ${onV1.join(' ') || 'none of cpu memory pids'}; v2 at ${cg.v2Mount} has ${v2c}`;
      break;
    }
    default:
      modeDetail = 'no cgroup filesystem mounted';
  }
  const modeCheck: Check = {
    id: 'cgroup-mode',
    title: 'cgroup mode',
    status: cg.mode === 'none' ? 'warn' : 'info',
    detail: modeDetail,
    fix:
      cg.mode === 'none'
        ? 'mount cgroup2: `mount -t cgroup2 none /sys/fs/cgroup` (systemd does this at boot); until then limits use rlimits'
        : null,
    neededByDefaults: false,
  };

  const limits: Check = {
    id: 'cgroup-limits',
    title: 'cgroup for limits',
    status: 'ok',
    detail: '',
    fix: null,
    neededByDefaults: false,
  };
  const fallback = 'limits fall back to rlimits (enforcement: rlimit); --require-cgroup would fail';

  if (cg.enforcement === 'cgroup2' && cg.route !== 'caller') {
    const why = cg.v2Writable
      ? `${cg.v2Others} other process${cg.v2Others === 1 ? '' : 'es'} share ${cg.v2Path}`
      : `${cg.v2Path} is not delegated`;
    limits.detail =
      cg.route === 'own-subtree'
        ? `cgroup2: in ${cg.v2Mount}/sandbox (${why})`
        : `cgroup2: in a delegated scope the user's systemd makes for the process (${why})`;
  } else if (cg.enforcement === 'cgroup2') {
    const missing = V2_CONTROLLERS.filter((c) => !cg.v2Controllers.includes(c));
    const how = root ? 'writable' : 'delegated';
    const have = V2_CONTROLLERS.filter((c) => cg.v2Controllers.includes(c));
    limits.detail = `cgroup2: ${cg.v2Path} ${how}; controllers ${have.join(' ') || 'none'}`;
    if (missing.length > 0) {
      limits.status = 'warn';
      limits.detail += `; missing ${missing.join(' ')}`;
      limits.fix = root
        ? `enable them in the parent: \`echo "${missing.map((c) => '+' + c).join(' ')}" > ${parentOf(cg.v2Dir)}/cgroup.subtree_control\``
        : `delegate them: \`sudo systemctl edit user@.service\` → [Service] Delegate=cpu cpuset io memory pids, then log in again (services: Delegate=yes in the unit)`;
    }
  } else if (cg.enforcement === 'cgroup1') {
    const writable = cg.v1.filter((c) => c.writable).map((c) => c.controller);
    const unmounted = cg.v1.filter((c) => c.dir === null).map((c) => c.controller);
    limits.detail = `cgroup1: can create children in ${writable.join(' ')}`;
    // cpu (a --cpus quota) and cpuset (--cpuset-cpus) are optional; detectLayout refuses a layout
    // without the others. Without cpu a quota falls back, so it warns; without cpuset only pinning
    // is refused, which few runs ask for.
    if (unmounted.includes('cpuset')) limits.detail += '; cpuset not mounted (--cpuset-cpus is refused)';
    if (unmounted.includes('cpu')) {
      limits.status = 'warn';
      limits.detail += '; cpu not mounted';
      limits.fix = 'mount the cpu controller (cgroup v1) for CPU quotas';
    }
  } else {
    limits.status = 'warn';
    if (cg.limitsOn === 'cgroup2') {
      const where = cg.v2Dir === null ? `${cg.v2Path ?? 'own cgroup'} not visible under ${cg.v2Mount}` : `${cg.v2Path} not writable`;
      limits.detail = `cgroup2: ${where}; ${fallback}`;
      limits.fix = container.inContainer
        ? containerCgroupFix(container)
        : root
          ? `the cgroup filesystem is read-only or the cgroup is not yours: run from a cgroup you may write, or pass --cgroup-parent DIR`
          : `run in a delegated scope: \`${SYSTEMD_RUN}\` (services: Delegate=yes in the unit's [Service] section)`;
    } else if (cg.limitsOn === 'cgroup1') {
      const denied = [...new Set(cg.v1.filter((c) => c.dir !== null && !c.writable).map((c) => c.dir))];
      limits.detail = root ? `cgroup1: cannot write ${denied.join(', ')}; ${fallback}` : `cgroup1: not writable without root; ${fallback}`;
      limits.fix = container.inContainer
        ? containerCgroupFix(container)
        : root
          ? 'the cgroup filesystems are read-only here: remount them read-write, or pass --cgroup-parent DIR'
          : 'run as root, or use cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1) and ' + `\`${SYSTEMD_RUN}\``;
    } else if (cg.mode !== 'none') {
      // Mounted, but not in a way the runtime can use (a required controller missing, the caller's cgroup not visible).
      limits.detail = `${cg.unavailable}; ${fallback}`;
      limits.fix = container.inContainer
        ? containerCgroupFix(container)
        : "mount the memory, pids and cpuacct controllers (v1) or a cgroup2 hierarchy that shows the caller's cgroup (docs/cgroups.md)";
    } else {
      limits.detail = `no cgroups: ${fallback}`;
      limits.fix = modeCheck.fix;
    }
  }
  return [modeCheck, limits];
}

function parentOf(dir: string | null): string {
  if (dir === null) return 'the parent cgroup';
  const i = dir.lastIndexOf('/');
  return i > 0 ? dir.slice(0, i) : dir;
}
