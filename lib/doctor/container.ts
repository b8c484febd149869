// Are we inside a container, and what must that container allow for the sandbox to nest?
import { parseMountinfo } from '../cgroup/proc.js';
import type { System } from './system.js';
import type { ContainerFacts } from './types.js';

// Inode numbers of the initial namespaces are fixed (include/linux/proc_ns.h: PROC_USER_INIT_INO = 0xEFFFFFFD,
// PROC_PID_INIT_INO = 0xEFFFFFFC): a process in any other user or pid namespace shows another number.
const INITIAL_USER_NS = 'user:[4026531837]';
const INITIAL_PID_NS = 'pid:[4026531836]';

const CGROUP_ENGINES: [RegExp, string][] = [
  [/kubepods/, 'kubernetes'],
  [/libpod|\/machine\.slice\/libpod/, 'podman'],
  [/docker/, 'docker'],
  [/\/lxc\/|lxc\.payload/, 'lxc'],
  [/containerd|cri-containerd/, 'containerd'],
  [/machine\.slice\/machine-/, 'systemd-nspawn'],
];

export function detectContainer(sys: System): ContainerFacts {
  const evidence: string[] = [];
  const markers: string[] = [];
  // Candidates for the engine, most specific first wins.
  const engines: string[] = [];
  const setEngine = (e: string): void => {
    engines.push(e);
  };

  const containerEnv = sys.readFile('/run/.containerenv');
  if (containerEnv !== null) {
    markers.push('/run/.containerenv');
    setEngine(/engine="([a-z]+)/.exec(containerEnv)?.[1] ?? 'podman');
  }
  if (sys.stat('/.dockerenv') !== null) {
    markers.push('/.dockerenv');
    setEngine('docker');
  }

  // systemd's container interface: runtimes set $container for pid 1 (systemd-nspawn, podman, lxc).
  const envVar = sys.env.container;
  if (envVar !== undefined && envVar !== '') {
    evidence.push(`container=${envVar}`);
    setEngine(envVar === 'oci' ? 'oci' : envVar);
  }
  const pid1Cgroup = sys.readFile('/proc/1/cgroup') ?? '';
  for (const [re, name] of CGROUP_ENGINES) {
    if (re.test(pid1Cgroup)) {
      evidence.push(`/proc/1/cgroup names ${name}`);
      setEngine(name);
      break;
    }
  }
  if (sys.env.KUBERNETES_SERVICE_HOST !== undefined) {
    evidence.push('KUBERNETES_SERVICE_HOST set');
    engines.unshift('kubernetes');
  }
  const rootMount = parseMountinfo(sys.readFile('/proc/self/mountinfo') ?? '').find((m) => m.mountPoint === '/');
  if (rootMount !== undefined && (rootMount.fsType === 'overlay' || rootMount.fsType === 'fuse-overlayfs')) {
    evidence.push('overlay root filesystem');
  }

  const userNs = sys.readlink('/proc/self/ns/user');
  const pidNs = sys.readlink('/proc/self/ns/pid');
  const initialUserNs = userNs === null ? null : userNs === INITIAL_USER_NS;
  const initialPidNs = pidNs === null ? null : pidNs === INITIAL_PID_NS;
  if (initialPidNs === false) evidence.push('own pid namespace');
  if (initialUserNs === false) evidence.push('own user namespace');

  // Marker files alone are not enough: images built with Docker keep /.dockerenv when they are booted as VMs
  // or unpacked on a host. Without any sign of isolation, nothing has to be allowed.
  const inContainer = evidence.length > 0;
  return {
    inContainer,
    engine: engines[0] ?? null,
    evidence: [...markers, ...evidence],
    initialUserNs,
    initialPidNs,
  };
}

/** What the container must allow so that the sandbox's namespaces, mounts and proc work inside it. */
export function containerAllowances(c: ContainerFacts): string {
  switch (c.engine) {
    case 'podman':
      return 'podman run --security-opt seccomp=unconfined --security-opt unmask=ALL --security-opt label=disable ... (or --privileged); rootless podman also needs user.max_user_namespaces > 0 inside';
    case 'kubernetes':
      return 'securityContext: seccompProfile {type: Unconfined}, appArmorProfile {type: Unconfined}, procMount: Unmasked (with hostUsers: false), or privileged: true';
    case 'lxc':
      return 'LXD/Incus: `lxc config set CONTAINER security.nesting=true`; plain LXC: lxc.apparmor.profile = unconfined';
    case 'systemd-nspawn':
      return 'systemd-nspawn --private-users=pick --system-call-filter="@mount unshare setns" (or run it with --capability=all)';
    default:
      return 'docker run --security-opt seccomp=unconfined (or a profile allowing clone3, unshare, mount, umount2, pivot_root, setns) --security-opt apparmor=unconfined --security-opt systempaths=unconfined ... (or --privileged)';
  }
}
