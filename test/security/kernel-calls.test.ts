// Calls that reach the kernel's most dangerous code, tried by a program inside the real sandbox:
// each must fail, and the same probe run outside (the control) must get a different answer, so
// the test could fail. The controls pass arguments the kernel refuses only after its permission
// check (reboot's bad magic, finit_module(-1), unknown bpf/keyctl commands, NULL structs), and the
// ones that need a capability run in throw-away namespaces made by unshare(1): they cannot touch
// the host's mounts, processes or time even when they get through.
// test/security/seccomp-filter.test.ts proves the BPF program alone; this file proves the sandbox
// applies it (and that dropped capabilities are a second wall behind it).
import test from 'ava';
import {
  buildProbes,
  isRoot,
  outside,
  probeBox,
  probeInside,
  probeOutside,
  scratch,
  throwAwayNamespaces,
  type Probes,
} from '../fixtures/probes/harness.js';

let p: Probes;
let mountPoint: { path: string; remove(): void };
test.before(() => {
  p = buildProbes('calls');
  mountPoint = scratch('mountpoint');
});
test.after.always(() => {
  p?.remove();
  mountPoint?.remove();
});

interface Attack {
  title: string;
  args: string[];
  /** The answer inside the sandbox (default filter). */
  inside: string;
  /** Arguments outside, when they differ (a host path). */
  outsideArgs?: string[];
  /** unshare(1) flags for the control: the call needs a capability over namespaces of its own. */
  wrap?: string;
  /**
   * Why the control may legitimately match the inside answer on some hosts (a capability only
   * real root has, a sysctl that refuses the call to everyone): then it is logged, not failed.
   */
  hostMayRefuse?: (outside: string) => string | null;
  /** Also EPERM with seccomp 'none': no capability is left to do it with. */
  capabilityWall?: boolean;
}

const rootless = (what: string) => (out: string) => (!isRoot && out === 'EPERM' ? `rootless: ${what}` : null);
const sysctl = (name: string) => (out: string) =>
  out === 'EPERM' || out === 'EACCES' ? `the host refuses it to this user (${name})` : null;

const attacks: Attack[] = [
  // EINVAL outside: LINUX_REBOOT_MAGIC1 with a wrong magic2 (checked after CAP_SYS_BOOT).
  { title: 'reboot', args: ['reboot'], inside: 'EPERM', wrap: '-Urpf', capabilityWall: true },
  // EBADF outside as root, or ENOSYS on a kernel without module support.
  {
    title: 'load a kernel module (finit_module)',
    args: ['finit_module'],
    inside: 'EPERM',
    hostMayRefuse: rootless('CAP_SYS_MODULE exists only for real root'),
  },
  // ok outside: a tmpfs in a throw-away mount namespace, unmounted at once.
  {
    title: 'mount a tmpfs',
    args: ['mount', '/tmp'],
    outsideArgs: ['mount', '<mountpoint>'],
    inside: 'EPERM',
    wrap: '-Urm',
    capabilityWall: true,
  },
  // ok outside: a forked child enters a new user namespace and exits.
  { title: 'nested user namespace (unshare)', args: ['userns'], inside: 'EPERM', hostMayRefuse: sysctl('user.max_user_namespaces') },
  { title: 'nested user namespace (clone)', args: ['clone-userns'], inside: 'EPERM', hostMayRefuse: sysctl('user.max_user_namespaces') },
  // EOPNOTSUPP outside: unknown command.
  { title: 'keyctl', args: ['keyctl'], inside: 'EPERM' },
  // EINVAL outside: unknown command.
  { title: 'bpf', args: ['bpf'], inside: 'EPERM', hostMayRefuse: sysctl('kernel.unprivileged_bpf_disabled') },
  // EFAULT outside: NULL perf_event_attr.
  { title: 'perf_event_open', args: ['perf_event_open'], inside: 'EPERM', hostMayRefuse: sysctl('kernel.perf_event_paranoid') },
  // EFAULT outside: NULL io_uring_params.
  { title: 'io_uring_setup', args: ['io_uring_setup'], inside: 'EPERM', hostMayRefuse: sysctl('kernel.io_uring_disabled') },
  // ok outside as root: a second /dev/null in a scratch directory, removed at once.
  {
    title: 'mknod a character device in /tmp',
    args: ['mknod', '/tmp/null2'],
    outsideArgs: ['mknod', '<mountpoint>/null2'],
    inside: 'EPERM',
    hostMayRefuse: rootless('CAP_MKNOD exists only for real root'),
    capabilityWall: true,
  },
  {
    title: 'mknod a character device in /dev/shm',
    args: ['mknod', '/dev/shm/null2'],
    outsideArgs: ['mknod', '<mountpoint>/null3'],
    inside: 'EPERM',
    hostMayRefuse: rootless('CAP_MKNOD exists only for real root'),
  },
];

const box = () => probeBox(p);

for (const a of attacks) {
  test(`${a.title}: ${a.inside} inside, something else outside`, async (t) => {
    const got = await probeInside(box(), a.args);
    t.is(got, a.inside, `inside: ${a.args.join(' ')}`);

    let wrap: string[] = [];
    if (a.wrap !== undefined) {
      const w = throwAwayNamespaces(a.wrap);
      if (w === null) return t.log(`control skipped: unshare ${a.wrap} does not work on this host`);
      wrap = w;
    }
    const args = (a.outsideArgs ?? a.args).map((s) => s.replace('<mountpoint>', mountPoint.path));
    const control = probeOutside(p, args, wrap);
    t.log(`inside ${got}, outside ${control}${wrap.length > 0 ? ` (under ${wrap.join(' ')})` : ''}`);
    const excuse = a.hostMayRefuse?.(control) ?? null;
    if (control === got && excuse !== null) return t.log(`control cannot tell here: ${excuse}`);
    t.not(control, got, 'the control must answer differently, or this test proves nothing');
  });
}

for (const a of attacks.filter((x) => x.capabilityWall === true)) {
  test(`${a.title}: still EPERM with seccomp 'none' (no capability left)`, async (t) => {
    t.is(await probeInside(probeBox(p, { seccomp: 'none' }), a.args), 'EPERM');
  });
}

function statusFields(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.split(':\t'))
      .filter((f) => f.length === 2),
  );
}

test('the command runs with no capabilities, no_new_privs and the filter installed', async (t) => {
  const r = await box().run(['cat', '/proc/self/status']);
  const fields = statusFields((r.stdout ?? Buffer.alloc(0)).toString());
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) t.is(fields[set], '0000000000000000', set);
  t.is(fields.NoNewPrivs, '1');
  t.is(fields.Seccomp, '2', 'filter mode');
  // Control: the same read outside shows another state (a bounding set, no filter).
  const host = statusFields(outside(['cat', '/proc/self/status']).join('\n'));
  t.notDeepEqual([host.CapBnd, host.NoNewPrivs, host.Seccomp], [fields.CapBnd, fields.NoNewPrivs, fields.Seccomp]);
});

test("init holds, in the sandbox's user namespace, only the capabilities it uses", async (t) => {
  const r = await box().run(['cat', '/proc/1/status']);
  const fields = statusFields((r.stdout ?? Buffer.alloc(0)).toString());
  // chown dac_override dac_read_search fowner kill setgid setuid setpcap net_admin sys_chroot sys_admin
  const uses = [0, 1, 2, 3, 5, 6, 7, 8, 12, 18, 21].reduce((m, c) => m | (1n << BigInt(c)), 0n);
  t.is(BigInt(`0x${fields.CapEff}`), uses, `CapEff ${fields.CapEff}`);
  t.is(BigInt(`0x${fields.CapPrm}`), uses, `CapPrm ${fields.CapPrm}`);
  // None of the others, e.g. sys_module (16), sys_ptrace (19), net_raw (13), mknod (27), bpf (39).
  for (const cap of [13, 16, 19, 27, 39]) t.is((BigInt(`0x${fields.CapEff}`) >> BigInt(cap)) & 1n, 0n, `capability ${cap}`);
});
