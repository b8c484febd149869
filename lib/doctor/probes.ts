// Real probes: small child processes that try what the launcher does, run in parallel (each takes a few ms).
// util-linux's unshare(1) stands in for the launcher's clone(); perl's syscall() tries the newer system calls
// with arguments the kernel must reject, so nothing is created.
import { TIMED_OUT, searchPath, which, type ProbeResult, type System } from './system.js';

export interface Probes {
  /** Path of unshare(1), or null when it is missing (then the namespace probes did not run). */
  unshare: string | null;
  /** user+pid+mount+uts+ipc+net, as the launcher's defaults ask. */
  namespaces: ProbeResult | null;
  /** Each namespace alone (only when `namespaces` failed), to name the one that is refused. */
  perNamespace: Record<string, ProbeResult> | null;
  /** A fresh proc in a new pid namespace. */
  proc: ProbeResult | null;
  /** tmpfs, read-only bind and pivot_root in a new mount namespace. */
  mounts: ProbeResult | null;
  /** "435=22 434=22 436=22": errno of clone3, pidfd_open, close_range with bad arguments. */
  syscalls: ProbeResult | null;
  /** getcap(8) on newuidmap/newgidmap, only when they exist without the setuid bit (Fedora uses file capabilities). */
  getcap: ProbeResult | null;
}

export const NAMESPACE_ARGS = ['--user', '--map-root-user', '--pid', '--fork', '--mount', '--uts', '--ipc', '--net', 'true'];
export const PROC_ARGS = ['--user', '--map-root-user', '--pid', '--fork', '--mount-proc', 'true'];

/** Single-namespace probes; the user namespace is always needed for an unprivileged caller's others. */
export const PER_NAMESPACE_ARGS: Record<string, string[]> = {
  user: ['--user', '--map-root-user', 'true'],
  pid: ['--user', '--map-root-user', '--pid', '--fork', 'true'],
  mount: ['--user', '--map-root-user', '--mount', 'true'],
  uts: ['--user', '--map-root-user', '--uts', 'true'],
  ipc: ['--user', '--map-root-user', '--ipc', 'true'],
  net: ['--user', '--map-root-user', '--net', 'true'],
};

// The steps the launcher's mount plan takes before exec: a tmpfs root, read-only binds of host directories,
// pivot_root into it (bubblewrap does the same). unshare(1) makes the new mount namespace's propagation
// private, so nothing here reaches the host's /tmp.
export const MOUNT_SCRIPT = [
  'set -e',
  'mount -t tmpfs -o size=64k sandbox-doctor /tmp',
  'mkdir /tmp/usr /tmp/old',
  'mount --bind -o ro /usr /tmp/usr',
  'if command -v pivot_root >/dev/null 2>&1; then cd /tmp && pivot_root . old; else echo no-pivot_root; fi',
].join('\n');
export const MOUNT_ARGS = ['--user', '--map-root-user', '--mount', 'sh', '-c', MOUNT_SCRIPT];

// clone3(NULL, 0) fails with EINVAL before anything is copied (size < CLONE_ARGS_SIZE_VER0, kernel/fork.c);
// pidfd_open(0, 0) fails with EINVAL (pid <= 0, kernel/pid.c); close_range(2, 1, 0) fails with EINVAL
// (fd > max_fd, fs/file.c). ENOSYS means absent or blocked by a seccomp filter. The numbers 434-436 are the
// same on every architecture (system calls from 424 on share one table, arch/*/syscall*.tbl).
export const SYSCALL_SCRIPT =
  'for my $c ([435, 0, 0], [434, 0, 0], [436, 2, 1, 0]) { my ($n, @a) = @$c; $! = 0; ' +
  'my $r = syscall($n, @a); print "$n=", ($r == -1 ? $! + 0 : 0), " "; }';

export const SYSCALL_NUMBERS = { clone3: 435, pidfd_open: 434, close_range: 436 } as const;

/**
 * A probe takes milliseconds; the limit is for a machine under heavy load (an emulated guest shared with other
 * jobs can take a minute for the lot). A probe that times out decides nothing: the checks say so instead of failing.
 */
export const PROBE_TIMEOUT_MS = 20_000;

export function probeEnv(sys: System): Record<string, string> {
  // C locale: util-linux translates its messages, and we quote them.
  return { PATH: searchPath(sys).join(':'), LC_ALL: 'C', LANG: 'C' };
}

export async function runProbes(sys: System): Promise<Probes> {
  const env = probeEnv(sys);
  const opts = { env, timeoutMs: PROBE_TIMEOUT_MS };
  const unshare = which(sys, 'unshare');
  const perl = which(sys, 'perl');
  const none = Promise.resolve(null);

  const namespaces = unshare === null ? none : sys.run(unshare, NAMESPACE_ARGS, opts);
  const perNamespace = namespaces.then(async (r) => {
    if (unshare === null || r === null || r.status === 0 || r.error === TIMED_OUT) return null;
    const names = Object.keys(PER_NAMESPACE_ARGS);
    const results = await Promise.all(names.map((n) => sys.run(unshare, PER_NAMESPACE_ARGS[n], opts)));
    return Object.fromEntries(names.map((n, i) => [n, results[i]]));
  });
  const proc = unshare === null ? none : sys.run(unshare, PROC_ARGS, opts);
  const mounts = unshare === null ? none : sys.run(unshare, MOUNT_ARGS, opts);
  const syscalls = perl === null ? none : sys.run(perl, ['-e', SYSCALL_SCRIPT], opts);
  const getcapBin = which(sys, 'getcap');
  const idmapNoSuid = ['newuidmap', 'newgidmap'].map((n) => which(sys, n)).filter((p): p is string => p !== null && !isSetuidRoot(sys, p));
  const getcap = getcapBin === null || idmapNoSuid.length === 0 ? none : sys.run(getcapBin, idmapNoSuid, opts);

  return {
    unshare,
    namespaces: await namespaces,
    perNamespace: await perNamespace,
    proc: await proc,
    mounts: await mounts,
    syscalls: await syscalls,
    getcap: await getcap,
  };
}

/** errno of each probed system call from the perl probe's output; empty when it did not run. */
export function parseSyscallProbe(r: ProbeResult | null): Map<number, number> {
  const out = new Map<number, number>();
  if (r === null || r.status !== 0) return out;
  for (const m of r.stdout.matchAll(/(\d+)=(\d+)/g)) out.set(Number(m[1]), Number(m[2]));
  return out;
}

export function isSetuidRoot(sys: System, path: string): boolean {
  const st = sys.stat(path);
  return st !== null && st.uid === 0 && (st.mode & 0o4000) !== 0;
}

export function probeTimedOut(r: ProbeResult | null): boolean {
  return r !== null && r.error === TIMED_OUT;
}

/** true when a probe ran and exited 0. */
export function probeOk(r: ProbeResult | null): boolean {
  return r !== null && r.status === 0 && r.error === null;
}
