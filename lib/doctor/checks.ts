// The checks other than cgroups: kernel and its features, namespaces, mounts, proc, seccomp, container, id maps.
// Each takes the facts it needs and returns one table line; none does I/O beyond the System it is given.
import { constants } from 'node:os';
import { parseMountinfo, type MountInfo } from '../cgroup/proc.js';
import { errnoName } from '../errno.js';
import { containerAllowances } from './container.js';
import { lastLine, parseIntFile, parseStatus, parseSubids, passwdName, versionAtLeast } from './parse.js';
import { PROBE_TIMEOUT_MS, isSetuidRoot, parseSyscallProbe, probeOk, probeTimedOut, type Probes } from './probes.js';
import { which, type ProbeResult, type System } from './system.js';
import type { CgroupFacts, Check, ContainerFacts } from './types.js';

const nameOf = (n: number): string => errnoName(n) ?? `errno ${n}`;
const since = (v: [number, number]): string => `${v[0]}.${v[1]}`;

/** A probe that did not finish in time: the line stays undecided (warn), never a failure. */
function undecided(check: Check, what: string): Check {
  check.status = 'warn';
  check.detail = `undecided: the ${what} probe did not finish within ${PROBE_TIMEOUT_MS / 1000} s (machine overloaded?)`;
  check.fix = 'run `sandbox doctor` again when the machine is less busy';
  return check;
}

/** What a failed probe said: its last stderr line, or why it did not run. */
export function probeError(r: ProbeResult | null): string {
  if (r === null) return 'not run';
  return lastLine(r.stderr) ?? r.error ?? `exit status ${r.status}`;
}

export function kernelCheck(sys: System): Check {
  const old = versionAtLeast(sys.release, [5, 3]) === false;
  const archOk = sys.arch === 'x64' || sys.arch === 'arm64';
  let detail = `Linux ${sys.release} ${sys.machine}`;
  if (old) detail += '; older than 5.3 (no clone3, no pidfd): untested';
  if (!archOk) detail += `; node is ${sys.arch}, supported are x64 and arm64`;
  return {
    id: 'kernel',
    title: 'kernel',
    status: old || !archOk ? 'warn' : 'ok',
    detail,
    fix: old
      ? 'upgrade to a 5.3 or newer kernel (every current distribution release has one)'
      : archOk
        ? null
        : 'use an x86_64 or arm64 machine (the prebuilt binaries and tests cover those two)',
    neededByDefaults: false,
  };
}

interface SyscallFeature {
  id: string;
  title: string;
  nr: number;
  since: [number, number];
  /** What happens without it. */
  without: string;
}

export const SYSCALL_FEATURES: SyscallFeature[] = [
  { id: 'clone3', title: 'clone3', nr: 435, since: [5, 3], without: 'the launcher uses clone()' },
  { id: 'pidfd', title: 'pidfd_open', nr: 434, since: [5, 3], without: 'the launcher waits without a pidfd' },
  { id: 'close_range', title: 'close_range', nr: 436, since: [5, 9], without: 'fds are closed one by one' },
];

/** Whether a system call works: probed with perl's syscall() when possible, else by kernel version. */
export function syscallAvailable(sys: System, probes: Probes, f: SyscallFeature): { ok: boolean; how: string } {
  const errno = parseSyscallProbe(probes.syscalls).get(f.nr);
  const byVersion = versionAtLeast(sys.release, f.since) === true;
  if (errno === undefined) return { ok: byVersion, how: `by version (${byVersion ? '>=' : '<'} ${since(f.since)})` };
  if (errno === constants.errno.ENOSYS || errno === constants.errno.EPERM) {
    return {
      ok: false,
      how: byVersion
        ? `blocked (${nameOf(errno)}) on a kernel >= ${since(f.since)}: a seccomp filter`
        : `absent (${nameOf(errno)}, kernel < ${since(f.since)})`,
    };
  }
  return { ok: true, how: `probed (${nameOf(errno)} for bad arguments)` };
}

export function syscallChecks(sys: System, probes: Probes): Check[] {
  return SYSCALL_FEATURES.map((f) => {
    const a = syscallAvailable(sys, probes, f);
    return {
      id: f.id,
      title: f.title,
      status: a.ok ? 'ok' : 'info',
      detail: a.ok ? `available, ${a.how}` : `${a.how}; ${f.without}`,
      fix: null,
      neededByDefaults: false,
    };
  });
}

/** CLONE_INTO_CGROUP, memory.peak, cgroup.kill: cgroup v2 features, meaningful only where limits use v2. */
export function cgroupFeatureChecks(sys: System, probes: Probes, cg: CgroupFacts): Check[] {
  const notUsed = cg.enforcement === 'cgroup1' ? 'not used: limits use cgroup v1' : 'not used: no writable cgroup (rlimits)';
  const v2 = cg.enforcement === 'cgroup2';
  const line = (id: string, title: string, ok: boolean, detail: string): Check => ({
    id,
    title,
    status: ok ? 'ok' : 'info',
    detail,
    fix: null,
    neededByDefaults: false,
  });

  const clone3 = syscallAvailable(sys, probes, SYSCALL_FEATURES[0]);
  const has57 = versionAtLeast(sys.release, [5, 7]) === true;
  const intoCgroup = !v2
    ? line('clone_into_cgroup', 'CLONE_INTO_CGROUP', false, notUsed)
    : !clone3.ok
      ? line('clone_into_cgroup', 'CLONE_INTO_CGROUP', false, 'needs clone3; the init is moved through cgroup.procs')
      : has57
        ? line('clone_into_cgroup', 'CLONE_INTO_CGROUP', true, 'available, by version (>= 5.7) on cgroup v2')
        : line('clone_into_cgroup', 'CLONE_INTO_CGROUP', false, 'absent (kernel < 5.7); the init is moved through cgroup.procs');

  // Both files exist only in non-root cgroups, memory.peak only where the memory controller is enabled.
  const fileCheck = (id: string, file: string, want: [number, number], without: string, v1Note: string): Check => {
    if (!v2) return line(id, file, false, cg.enforcement === 'cgroup1' ? `n/a on cgroup v1: ${v1Note}` : notUsed);
    if (cg.v2Dir !== null && sys.stat(`${cg.v2Dir}/${file}`) !== null) {
      return line(id, file, true, `available, ${file} present in the caller's cgroup`);
    }
    const byVersion = versionAtLeast(sys.release, want) === true;
    return byVersion
      ? line(id, file, true, `available, by version (>= ${since(want)})`)
      : line(id, file, false, `absent (kernel < ${since(want)}); ${without}`);
  };
  return [
    intoCgroup,
    fileCheck('memory_peak', 'memory.peak', [5, 19], 'peak memory from rusage', 'memory.max_usage_in_bytes is used'),
    fileCheck('cgroup_kill', 'cgroup.kill', [5, 14], 'processes are killed one by one', 'processes are killed one by one'),
  ];
}

function sysctlPersist(key: string, value: number): string {
  return `sudo sysctl -w ${key}=${value} (keep it: echo ${key}=${value} | sudo tee -a /etc/sysctl.d/60-sandbox.conf)`;
}

/** The AppArmor profile that lets node create user namespaces on Ubuntu 23.10+. */
export function apparmorFix(sys: System): string {
  return [
    `AppArmor restricts unprivileged user namespaces: allow them for ${sys.execPath} with a profile,`,
    `printf 'abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile sandbox-node ${sys.execPath} flags=(unconfined) {\\n  userns,\\n}\\n' | sudo tee /etc/apparmor.d/sandbox-node`,
    'sudo apparmor_parser -r /etc/apparmor.d/sandbox-node',
    `or lift the restriction for everyone: ${sysctlPersist('kernel.apparmor_restrict_unprivileged_userns', 0)}`,
  ].join('\n');
}

export interface UsernsFacts {
  unprivilegedUsernsClone: number | null;
  maxUserNamespaces: number | null;
  apparmorRestrict: number | null;
  /** AppArmor label of this process (node), e.g. 'unconfined' or 'sandbox-node (unconfined)'. */
  apparmorLabel: string | null;
}

export function usernsFacts(sys: System): UsernsFacts {
  return {
    unprivilegedUsernsClone: parseIntFile(sys.readFile('/proc/sys/kernel/unprivileged_userns_clone')),
    maxUserNamespaces: parseIntFile(sys.readFile('/proc/sys/user/max_user_namespaces')),
    apparmorRestrict: parseIntFile(sys.readFile('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')),
    apparmorLabel: sys.readFile('/proc/self/attr/apparmor/current')?.replace(/\0/g, '').trim() || null,
  };
}

export function usernsCheck(sys: System, probes: Probes, container: ContainerFacts): Check {
  const f = usernsFacts(sys);
  const root = sys.uid === 0;
  const check: Check = {
    id: 'userns',
    title: 'user namespaces',
    status: 'ok',
    detail: '',
    fix: null,
    neededByDefaults: true,
  };
  const nodeHasProfile = f.apparmorLabel !== null && !f.apparmorLabel.startsWith('unconfined');
  const causes: string[] = [];
  if (!root && f.unprivilegedUsernsClone === 0) causes.push(sysctlPersist('kernel.unprivileged_userns_clone', 1));
  if (f.maxUserNamespaces === 0) causes.push(sysctlPersist('user.max_user_namespaces', 15000));
  if (!root && f.apparmorRestrict === 1 && !nodeHasProfile) causes.push(apparmorFix(sys));
  if (container.inContainer) causes.push(`inside the container: ${containerAllowances(container)}`);
  const disabledBySysctl = (!root && f.unprivilegedUsernsClone === 0) || f.maxUserNamespaces === 0;

  if (probes.unshare === null || probes.namespaces === null) {
    check.status = disabledBySysctl ? 'fail' : 'warn';
    check.detail = disabledBySysctl
      ? 'disabled by sysctl (not probed: unshare(1) not found)'
      : 'not probed: unshare(1) from util-linux not found; sysctls allow them';
    check.fix = disabledBySysctl
      ? causes.join('\n')
      : 'install util-linux (apt install util-linux, apk add util-linux) so doctor can probe';
    return check;
  }
  if (probeOk(probes.namespaces)) {
    check.detail = 'user pid mount uts ipc net: created (probed)';
    return check;
  }
  if (probeTimedOut(probes.namespaces)) return undecided(check, 'namespace');

  let detail: string;
  const per = probes.perNamespace;
  const refused = per === null ? [] : Object.keys(per).filter((n) => !probeOk(per[n]));
  if (per !== null && refused.includes('user')) detail = `refused: ${probeError(per.user)}`;
  else if (per !== null && refused.length > 0) detail = `refused: ${refused.join(' ')} (${probeError(per[refused[0]])})`;
  else detail = `refused: ${probeError(probes.namespaces)}`;

  // Ubuntu's restriction is per program: a profile for node does not cover unshare(1), which the probe runs.
  if (!root && f.apparmorRestrict === 1 && nodeHasProfile && causes.length === 0) {
    check.status = 'warn';
    check.detail = `${detail}; the probe ran unshare(1), node runs under AppArmor profile "${f.apparmorLabel}"`;
    check.fix = 'make sure that profile has the `userns,` rule; then this line can be ignored';
    return check;
  }
  check.status = 'fail';
  check.detail = detail;
  check.fix =
    causes.length > 0
      ? causes.join('\n')
      : 'no known cause found: look for an LSM denial in `dmesg` (SELinux user_namespace create, AppArmor) and for a seccomp filter (Seccomp: 2 in /proc/self/status)';
  return check;
}

/** /proc submounts that make the kernel refuse a new proc (mount_too_revealing() in fs/namespace.c). */
export function procOvermounts(mounts: MountInfo[]): string[] {
  // binfmt_misc sits on a permanently empty directory, which the kernel accepts.
  return mounts.filter((m) => m.mountPoint.startsWith('/proc/') && m.mountPoint !== '/proc/sys/fs/binfmt_misc').map((m) => m.mountPoint);
}

function needsUserns(probes: Probes): boolean {
  return probes.perNamespace !== null && !probeOk(probes.perNamespace.user ?? null);
}

export function mountsCheck(sys: System, probes: Probes, container: ContainerFacts): Check {
  const check: Check = {
    id: 'mounts',
    title: 'mounts, pivot_root',
    status: 'ok',
    detail: 'tmpfs, read-only bind, pivot_root: done (probed)',
    fix: null,
    neededByDefaults: true,
  };
  if (probes.mounts === null) {
    check.status = 'warn';
    check.detail = 'not probed: unshare(1) from util-linux not found';
    check.fix = 'install util-linux so doctor can probe';
    return check;
  }
  if (probeOk(probes.mounts)) {
    if (probes.mounts.stdout.includes('no-pivot_root')) {
      check.status = 'warn';
      check.detail = 'tmpfs, read-only bind: done; pivot_root not probed (no pivot_root(8))';
      check.fix = 'install util-linux so doctor can probe pivot_root';
    }
    return check;
  }
  if (probeTimedOut(probes.mounts)) return undecided(check, 'mount');
  check.status = 'fail';
  if (needsUserns(probes)) {
    check.detail = 'not possible without user namespaces';
    check.fix = 'fix user namespaces first';
    return check;
  }
  check.detail = `failed: ${probeError(probes.mounts)}`;
  const root = parseMountinfo(sys.readFile('/proc/self/mountinfo') ?? '').find((m) => m.mountPoint === '/');
  if (root !== undefined && (root.fsType === 'rootfs' || root.fsType === 'ramfs')) {
    check.fix =
      'the root filesystem is the initramfs (rootfs), which pivot_root(2) cannot move (EINVAL): switch_root to a real root filesystem, or put / on a tmpfs first';
  } else if (container.inContainer) {
    check.fix = `inside the container: ${containerAllowances(container)}`;
  } else {
    check.fix = 'look for an LSM denial of mount in `dmesg` (AppArmor, SELinux) and for a seccomp filter';
  }
  return check;
}

export function procCheck(sys: System, probes: Probes, container: ContainerFacts): Check {
  const check: Check = {
    id: 'proc',
    title: 'proc mount',
    status: 'ok',
    detail: 'new proc in a new pid namespace: mounted (probed)',
    fix: null,
    neededByDefaults: true,
  };
  if (probes.proc === null) {
    check.status = 'warn';
    check.detail = 'not probed: unshare(1) from util-linux not found';
    check.fix = 'install util-linux so doctor can probe';
    return check;
  }
  if (probeOk(probes.proc)) return check;
  if (probeTimedOut(probes.proc)) return undecided(check, 'proc');
  check.status = 'fail';
  if (needsUserns(probes)) {
    check.detail = 'not possible without user namespaces';
    check.fix = 'fix user namespaces first';
    return check;
  }
  check.detail = `failed: ${probeError(probes.proc)}`;
  const covered = procOvermounts(parseMountinfo(sys.readFile('/proc/self/mountinfo') ?? ''));
  const unmask =
    container.engine === 'podman'
      ? 'podman run --security-opt unmask=ALL'
      : container.engine === 'kubernetes'
        ? 'securityContext.procMount: Unmasked (with hostUsers: false)'
        : 'docker run --security-opt systempaths=unconfined';
  if (covered.length > 0) {
    const list = covered.slice(0, 3).join(', ') + (covered.length > 3 ? ', ...' : '');
    check.detail += `; /proc is partly covered (${list})`;
    check.fix = `the kernel mounts a new proc only where the existing one is fully visible: ${unmask} (or --privileged)`;
  } else if (container.inContainer) {
    check.fix = `inside the container: ${containerAllowances(container)}`;
  } else {
    check.fix = 'look for an LSM denial of mount in `dmesg` (AppArmor, SELinux)';
  }
  return check;
}

// The default `--seccomp default` installs a filter (docs/security.md), so the defaults need filter support.
export function seccompCheck(sys: System, container: ContainerFacts): Check {
  const status = parseStatus(sys.readFile('/proc/self/status') ?? '');
  const mode = status.get('Seccomp');
  const filters = status.get('Seccomp_filters');
  const actions = sys.readFile('/proc/sys/kernel/seccomp/actions_avail');
  const check: Check = {
    id: 'seccomp',
    title: 'seccomp',
    status: 'ok',
    detail: '',
    fix: null,
    neededByDefaults: true,
  };
  if (mode === undefined) {
    check.status = 'fail';
    check.detail = 'not in this kernel (no Seccomp: line in /proc/self/status)';
    check.fix = 'use a kernel built with CONFIG_SECCOMP_FILTER=y (every distribution kernel is), or run with --seccomp none';
    return check;
  }
  // actions_avail exists since 4.14 when filters are built in (CONFIG_SECCOMP_FILTER, kernel/seccomp.c).
  if (actions === null && versionAtLeast(sys.release, [4, 14]) === true) {
    check.status = 'warn';
    check.detail = 'no /proc/sys/kernel/seccomp/actions_avail: filters may be missing (CONFIG_SECCOMP_FILTER)';
    check.fix = 'if `sandbox exec` fails to install its filter: use a kernel with CONFIG_SECCOMP_FILTER=y, or --seccomp none';
    return check;
  }
  const how = 'filters available';
  if (mode === '2') {
    const n = filters === undefined ? 'a' : filters;
    const whose = container.inContainer ? " (the container runtime's)" : '';
    check.detail = `${how}; already under ${n} filter${n === '1' || n === 'a' ? '' : 's'}${whose}, in force inside too`;
  } else {
    check.detail = `${how}; none in force now`;
  }
  return check;
}

export function containerCheck(container: ContainerFacts, failed: boolean): Check {
  let detail: string;
  if (container.inContainer) {
    detail = `${container.engine ?? 'unknown runtime'}: ${container.evidence.join(', ')}`;
  } else if (container.evidence.length > 0) {
    detail = `no: ${container.evidence.join(', ')} present, but in the host's first pid and user namespaces`;
  } else {
    detail = 'no';
  }
  return {
    id: 'container',
    title: 'container',
    status: container.inContainer && failed ? 'warn' : 'info',
    detail,
    fix: container.inContainer ? containerAllowances(container) : null,
    neededByDefaults: false,
  };
}

/** getcap(8) prints "/usr/bin/newuidmap cap_setuid=ep" (or "... = cap_setuid+ep" in older versions). */
function hasFileCaps(getcap: ProbeResult | null, path: string): boolean {
  if (getcap === null) return false;
  return getcap.stdout.split('\n').some((l) => l.startsWith(path + ' ') && /cap_set[ug]id/.test(l));
}

export function idmapCheck(sys: System, probes: Probes): Check {
  const user = passwdName(sys.readFile('/etc/passwd'), sys.uid) ?? sys.env.USER ?? null;
  const tools = ['newuidmap', 'newgidmap'].map((name) => {
    const path = which(sys, name);
    let state: string;
    if (path === null) state = 'missing';
    else if (isSetuidRoot(sys, path)) state = 'setuid';
    else if (hasFileCaps(probes.getcap, path)) state = 'file caps';
    else state = 'no setuid bit';
    return { name, path, state, usable: state === 'setuid' || state === 'file caps' };
  });
  const ranges = (file: string): string => {
    const r = parseSubids(sys.readFile(file), user, sys.uid);
    return r.length === 0 ? 'none' : r.map((x) => `${x.start}+${x.count}`).join(',');
  };
  const subuid = ranges('/etc/subuid');
  const subgid = ranges('/etc/subgid');
  const toolText = tools.map((t) => `${t.name} ${t.state}`).join(', ');
  const complete = tools.every((t) => t.usable) && subuid !== 'none' && subgid !== 'none';
  const root = sys.uid === 0;
  return {
    id: 'idmap',
    title: 'newuidmap, subids',
    status: complete && !root ? 'ok' : 'info',
    detail: root
      ? `root maps ids itself; ${toolText}`
      : `${toolText}; subuid ${subuid}, subgid ${subgid}${complete ? '' : ' (not needed by the defaults)'}`,
    fix:
      complete || root
        ? null
        : `for more ids inside: sudo apt install uidmap && sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user ?? 'USER'}`,
    neededByDefaults: false,
  };
}

/** Unprivileged overlayfs: how an image's layers become a root (docs/images-run.md). */
export function overlayCheck(sys: System): Check {
  const check: Check = { id: 'overlay', title: 'overlayfs (images)', status: 'info', detail: '', fix: null, neededByDefaults: false };
  const support = sys.overlay?.() ?? null;
  const old = versionAtLeast(sys.release, [5, 11]) === false;
  if (support === null) {
    check.detail = 'not probed (the addon is not loaded)';
    return check;
  }
  if (support.ok) {
    check.status = 'ok';
    check.detail = 'probed: overlayfs mounts in a user namespace (userxattr); image layers are composed at run time, --writable works';
    return check;
  }
  check.status = 'warn';
  const why = support.errno === 0 ? support.detail : `probed: overlayfs in a user namespace refused (${nameOf(support.errno)})`;
  check.detail = `${why}; images run from their flattened trees (made once per image), --writable is refused`;
  check.fix =
    support.errno === 0
      ? 'unset SANDBOX_IMAGE_OVERLAY'
      : old
        ? 'upgrade to Linux 5.11 or newer (unprivileged overlayfs with userxattr)'
        : 'an LSM or a container runtime refuses it: allow mount of overlay in user namespaces (AppArmor: the profile of node needs `mount fstype=overlay`), or run outside the container';
  return check;
}
