// The default seccomp policy: what a judged program or test job never needs and what widens the
// kernel's attack surface. Everything else is allowed; the filter is a deny list so that
// compilers, interpreters and runtimes keep working unchanged.
//
// Denied calls fail with EPERM rather than killing the caller: a program that probes for a feature
// (a runtime trying io_uring, a test suite checking for user namespaces) takes its fallback, and
// EPERM is what most of these calls already return to a caller without the capability — we drop
// every capability before exec, so the filter is a second wall, not a change of behaviour.
// Sources: man 2 seccomp, Docker's default profile (moby/profiles seccomp/default.json), and the
// CVEs cited per rule.

import type { ArgCheck } from './bpf.js';

export interface PolicyRule {
  /** System call name as in syscalls-x64.ts / syscalls-arm64.ts; skipped where the arch lacks it. */
  name: string;
  /** What the call fails with. */
  errno: 'EPERM' | 'ENOSYS';
  /** Deny only when this holds; absent: always. */
  when?: ArgCheck;
}

/** errno numbers are the asm-generic ones on both x86_64 and aarch64. */
export const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;

/**
 * <linux/sched.h> CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
 * CLONE_NEWTIME (0x80) is absent on purpose: in clone()'s flags the low byte is the exit signal,
 * so it can be asked for only through clone3 or unshare, both denied outright.
 */
export const CLONE_NEW_MASK = 0x7e020000n;

/** personality(2) values that change nothing a program can abuse (the same list as Docker's). */
export const PERSONALITY_ALLOWED: readonly bigint[] = [
  0x0n, // PER_LINUX
  0x8n, // PER_LINUX32
  0x20000n, // UNAME26
  0x20008n, // PER_LINUX32 | UNAME26
  0xffffffffn, // query the current persona without changing it
];

/** <asm-generic/ioctls.h>, the same on x86_64 and aarch64. */
export const TIOCSTI = 0x5412n; // push a byte into the terminal's input queue: types commands for the caller
export const TIOCLINUX = 0x541cn; // console selection paste, same effect on a virtual console

const deny = (...names: string[]): PolicyRule[] => names.map((name) => ({ name, errno: 'EPERM' }));

export const defaultPolicy: readonly PolicyRule[] = [
  // Kernel code and the machine itself. create_module, get_kernel_syms and query_module are
  // x86_64 leftovers that return ENOSYS; listing them keeps the *_module family closed everywhere.
  ...deny('init_module', 'finit_module', 'delete_module', 'create_module', 'get_kernel_syms', 'query_module'),
  ...deny('kexec_load', 'kexec_file_load', 'reboot', 'swapon', 'swapoff'),
  // x86_64: raw I/O port access (needs CAP_SYS_RAWIO; never wanted by a judged program).
  ...deny('iopl', 'ioperm'),

  // Mounts and the root directory. The sandbox builds the mount tree before exec; changing it from
  // inside is how chroot-style escapes start. chroot is denied too: with CAP_SYS_CHROOT dropped it
  // already fails with EPERM, so denying it costs nothing, and the classic chroot escape
  // (chroot into a subdirectory, then walk up with fchdir/..) stays closed even if a capability
  // leaked. pivot_root and the new mount API (Linux 5.2+, open_tree_attr 6.15) likewise.
  ...deny('mount', 'umount2', 'pivot_root', 'chroot'),
  ...deny('fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'open_tree_attr', 'mount_setattr'),

  // Namespaces. A nested user namespace hands the program a full capability set over fresh
  // namespaces — the entry point of many kernel exploits (e.g. CVE-2022-0185, CVE-2023-32233).
  // clone3 passes its flags in memory that BPF cannot read, so it fails with ENOSYS, what a
  // pre-5.3 kernel answers: glibc 2.34+ (pthread_create, posix_spawn) and other clone3 users then
  // fall back to clone(2), whose flags are arg 0 on both x86_64 and aarch64 (arm64 uses
  // CLONE_BACKWARDS, which moves only tls and the tid pointers).
  ...deny('setns', 'unshare'),
  { name: 'clone', errno: 'EPERM', when: { arg: 0, width: 32, test: 'anyBit', values: [CLONE_NEW_MASK] } },
  { name: 'clone3', errno: 'ENOSYS' },

  // Kernel subsystems with a long exploit record and no use in a judged program. The kernel
  // keyring is not namespaced (Docker's reason); io_uring was behind 60% of the kernel exploits
  // submitted to Google's kCTF VRP in 2022, and Google turned it off in ChromeOS, Android apps and
  // its servers; bpf and perf_event_open expose verifier and PMU code; userfaultfd stalls kernel
  // page faults at will, the usual tool for widening race windows.
  ...deny('keyctl', 'add_key', 'request_key'),
  ...deny('bpf', 'perf_event_open', 'userfaultfd'),
  ...deny('io_uring_setup', 'io_uring_enter', 'io_uring_register'),

  // File handles bypass path lookup, and with it the mount tree the sandbox built: the 2014
  // "shocker" escape from Docker read host files with open_by_handle_at.
  ...deny('open_by_handle_at', 'name_to_handle_at'),

  // Other processes. The pid namespace hides the host's processes already; ptrace is denied as well
  // because before Linux 4.8 a tracer could rewrite a tracee's system call after seccomp had
  // checked it (seccomp_filter.rst), and because process_vm_* and kcmp are its siblings (all
  // need PTRACE_MODE access). kcmp's ordinary users (Mesa, systemd) treat EPERM as "cannot tell".
  ...deny('ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp'),

  // personality(2) flags such as READ_IMPLIES_EXEC and ADDR_NO_RANDOMIZE weaken exploit
  // mitigations for everything exec'd later. The kernel takes an unsigned int, so only the low
  // 32 bits are compared — which is also what lets 0xffffffff (a query) pass when a caller passes
  // -1 as a long.
  { name: 'personality', errno: 'EPERM', when: { arg: 0, width: 32, test: 'noneOf', values: PERSONALITY_ALLOWED } },

  // Terminal injection: TIOCSTI types into whatever terminal the fd is on (CVE-2016-7545 in
  // SELinux's sandbox, CVE-2017-5226 in bubblewrap); TIOCLINUX does the same on a Linux console.
  // ioctl's cmd is an unsigned int in the kernel, so only the low 32 bits are compared; flatpak's
  // filter compared 64 and was bypassed with a high bit set (CVE-2019-10063).
  { name: 'ioctl', errno: 'EPERM', when: { arg: 1, width: 32, test: 'oneOf', values: [TIOCSTI, TIOCLINUX] } },

  // Host-wide state: process accounting, disk quotas, the clock, the kernel log (addresses,
  // other tenants' messages), hanging up the terminal.
  ...deny('acct', 'quotactl', 'quotactl_fd'),
  ...deny('settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex'),
  ...deny('syslog', 'vhangup'),

  // Obsolete calls still numbered: lookup_dcookie (oprofile), nfsservctl (stub since 3.1),
  // uselib (a.out libraries). Nothing current uses them; where a kernel still has them they are
  // only surface.
  ...deny('lookup_dcookie', 'nfsservctl', 'uselib'),

  // Allowed on purpose: mbind, set_mempolicy, migrate_pages and move_pages (Docker wants
  // CAP_SYS_NICE for them). NUMA placement only affects memory of processes the caller may
  // already ptrace inside the sandbox, cpuset.mems still bounds it, and OpenMP and BLAS runtimes
  // call them. seccomp itself stays allowed: a program may only add filters, never remove ours.
];
