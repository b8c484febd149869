// The seccomp program, proved on this machine's kernel without the rest of the sandbox: the
// fixture test/fixtures/seccomp-run.c installs it (no_new_privs, then SECCOMP_SET_MODE_FILTER) and
// execs a probe. Every denial has a control: the same probe without the filter answers
// differently, so the test can fail. The controls only make calls the kernel refuses for their
// arguments after its permission check, or that change nothing outside the probe process.
//
// Probes that need a capability over their own namespaces (reboot's CAP_SYS_BOOT over the pid
// namespace, pivot_root's CAP_SYS_ADMIN over the mount namespace) run under `unshare -Urmpf`, in
// throw-away user, mount and pid namespaces like the sandbox's own, so they behave the same as root
// and as an ordinary user — and could not touch the host if they succeeded.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSeccompProgram, type SeccompArch } from '../../lib/seccomp/index.js';
import { syscallsArm64 } from '../../lib/seccomp/syscalls-arm64.js';
import { syscallsX64 } from '../../lib/seccomp/syscalls-x64.js';

const fixture = fileURLToPath(new URL('../fixtures/seccomp-run.c', import.meta.url));
const arch = process.arch as SeccompArch;
const isRoot = process.getuid?.() === 0;

let dir = '';
let runner = '';
let defaultFilter = '';
let userns: string[] = [];

interface Outcome {
  out: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function spawn(argv: string[], timeout = 60_000): Outcome {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: dir, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  return { out: r.stdout.trim(), status: r.status, signal: r.signal, stderr: r.stderr.trim() };
}

/** Runs argv under the filter at `filter` (null: no filter), optionally in throw-away namespaces. */
function run(argv: string[], filter: string | null, wrap = false, timeout?: number): Outcome {
  return spawn([...(wrap ? userns : []), ...(filter === null ? [] : [runner, filter]), ...argv], timeout);
}

const probe = (name: string, filter: string | null, wrap = false) => run([runner, '--probe', name], filter, wrap);

// Set up at load time, so that a test this machine cannot run is declared skipped at registration.
function setUp(): string | null {
  if (arch !== 'x64' && arch !== 'arm64') return `no seccomp table for ${process.arch}`;
  dir = mkdtempSync(join(tmpdir(), 'seccomp-filter-'));
  runner = join(dir, 'seccomp-run');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-pthread', '-o', runner, fixture], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return `cannot compile the fixture with cc: ${cc.error?.message ?? cc.stderr}`;
  defaultFilter = join(dir, 'default.bpf');
  writeFileSync(defaultFilter, buildSeccompProgram('default')!);
  const probeNs = spawnSync('unshare', ['-Urmpf', 'true']);
  if (probeNs.status === 0) userns = ['unshare', '-Urmpf'];
  else console.log('seccomp-filter: unshare -Urmpf does not work here; probes needing it check only the filter side');
  return null;
}
const skipReason = setUp();
// In CI a tool the test needs is part of the machine: its absence fails instead of skipping.
if (skipReason !== null && process.env.CI === 'true') throw new Error(`seccomp-filter: ${skipReason}`);
if (skipReason !== null) console.log(`seccomp-filter: every test skipped: ${skipReason}`);
const ready = skipReason === null ? test : test.skip;
const installed = (cmd: string) => !spawnSync(cmd, ['--version']).error;
const when = (ok: boolean) => (skipReason === null && ok ? test : test.skip);

test.after.always(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** What a denial looks like: the errno under the filter, and why the control differs. */
interface Denial {
  probe: string;
  inside: 'EPERM' | 'ENOSYS';
  /** Run in throw-away user+mount+pid namespaces (needs capabilities over them). */
  wrap?: boolean;
  /** The control needs real root (a capability checked in the initial user namespace). */
  rootOnly?: boolean;
  /** A host may refuse this call to everyone (a sysctl); then the control cannot tell and says so. */
  hostMayRefuse?: boolean;
}

const denials: Denial[] = [
  { probe: 'reboot', inside: 'EPERM', wrap: true }, // EINVAL outside: bad magic
  { probe: 'finit_module', inside: 'EPERM', rootOnly: true }, // EBADF, or ENOSYS without module support
  { probe: 'unshare-user', inside: 'EPERM', wrap: true },
  { probe: 'clone-newuser', inside: 'EPERM', wrap: true },
  { probe: 'clone3', inside: 'ENOSYS' }, // EINVAL outside: no clone_args
  { probe: 'setns', inside: 'EPERM' }, // EBADF
  { probe: 'mount', inside: 'EPERM', wrap: true }, // ENOENT
  { probe: 'pivot_root', inside: 'EPERM', wrap: true }, // ENOENT
  { probe: 'chroot', inside: 'EPERM', wrap: true }, // ENOENT
  { probe: 'keyctl', inside: 'EPERM', hostMayRefuse: true },
  { probe: 'bpf', inside: 'EPERM', hostMayRefuse: true }, // EINVAL: unknown command
  { probe: 'perf_event_open', inside: 'EPERM', hostMayRefuse: true }, // EFAULT
  { probe: 'io_uring_setup', inside: 'EPERM', hostMayRefuse: true }, // EFAULT
  { probe: 'userfaultfd', inside: 'EPERM', hostMayRefuse: true }, // EINVAL: unknown flag
  { probe: 'ptrace', inside: 'EPERM' }, // ESRCH: no pid 0
  { probe: 'process_vm_readv', inside: 'EPERM' }, // ok: nothing to copy from itself
  { probe: 'name_to_handle_at', inside: 'EPERM' }, // EFAULT
  { probe: 'settimeofday', inside: 'EPERM', rootOnly: true }, // ok: sets nothing
  { probe: 'syslog', inside: 'EPERM', rootOnly: true, hostMayRefuse: true }, // ok: asks the buffer size
  { probe: 'personality-bad', inside: 'EPERM' }, // ok: READ_IMPLIES_EXEC for the probe itself
  { probe: 'tiocsti', inside: 'EPERM' }, // ENOTTY: /dev/null
  { probe: 'tiocsti-high', inside: 'EPERM' }, // ENOTTY
  { probe: 'tioclinux', inside: 'EPERM' }, // ENOTTY
];

for (const d of denials) {
  ready(`${d.probe}: ${d.inside} under the default filter, something else without it`, (t) => {
    const wrap = d.wrap === true && userns.length > 0;
    const inside = probe(d.probe, defaultFilter, wrap);
    t.is(inside.out, d.inside, inside.stderr);
    t.is(inside.status, 0);

    if (d.wrap === true && !wrap && !isRoot) return t.log('control skipped: it needs user namespaces or root');
    if (d.rootOnly === true && !isRoot) return t.log('control skipped: the permission check it passes needs real root');
    const outside = probe(d.probe, null, wrap);
    t.is(outside.status, 0, outside.stderr);
    if (d.hostMayRefuse === true && outside.out === 'EPERM') {
      return t.log(`control inconclusive: this host refuses ${d.probe} to everyone (a sysctl)`);
    }
    t.not(outside.out, inside.out, 'the probe must answer differently without the filter');
    t.log(`without the filter: ${outside.out}`);
  });
}

for (const name of ['clone-plain', 'threads', 'personality-query', 'personality-query-high', 'personality-linux32', 'ioctl-fionread']) {
  ready(`${name}: allowed under the default filter`, (t) => {
    const inside = probe(name, defaultFilter);
    t.is(inside.out, 'ok', inside.stderr);
    t.is(probe(name, null).out, 'ok');
  });
}

for (const name of ['int80', 'x32']) {
  // int80 and x32 exist only on x86_64.
  when(arch === 'x64')(`${name}: the 32-bit entry kills the process (SIGSYS) on x86_64`, (t) => {
    const inside = probe(name, defaultFilter);
    // A kernel without ia32 emulation (ia32_emulation=0, or a hypervisor's kernel built so) faults
    // the int 0x80 entry itself, filter or not: SIGSEGV, and no call is made either.
    if (name === 'int80' && inside.signal === 'SIGSEGV') t.log('no ia32 emulation: the entry faults (SIGSEGV) before any filter');
    else t.is(inside.signal, 'SIGSYS');
    t.is(inside.out, '', 'killed before it could answer');
    // Without the filter: a pid (ia32 emulation on), ENOSYS (x32 off) or SIGSEGV (ia32_emulation=0).
    const outside = probe(name, null);
    t.not(outside.signal, 'SIGSYS');
    t.log(`without the filter: ${outside.out || outside.signal}`);
  });
}

ready('a filter for the other architecture kills the first call', (t) => {
  const other: SeccompArch = arch === 'x64' ? 'arm64' : 'x64';
  const file = join(dir, `${other}.bpf`);
  writeFileSync(file, buildSeccompProgram('default', other)!);
  const r = run(['true'], file);
  t.is(r.signal, 'SIGSYS', 'the kernel accepted the program and its arch check fired on execve');
});

ready('the kernel accepts the largest program: every known call denied but write and exit', (t) => {
  const table = arch === 'x64' ? syscallsX64 : syscallsArm64;
  const keep = ['write', 'exit', 'exit_group'];
  const file = join(dir, 'all.bpf');
  writeFileSync(file, buildSeccompProgram({ deny: [...table.keys()].filter((n) => !keep.includes(n)) })!);
  const r = run(['true'], file);
  t.is(r.status, 127, 'installed (125 would mean refused), then execve failed');
  t.regex(r.stderr, /can't execute true: Operation not permitted/);
});

ready('changes apply: allow ptrace and clone, deny ioctl outright', (t) => {
  const file = join(dir, 'changed.bpf');
  writeFileSync(file, buildSeccompProgram({ allow: ['ptrace', 'clone'], deny: ['ioctl'] })!);
  const wrap = userns.length > 0;
  t.is(probe('ptrace', file).out, 'ESRCH');
  if (wrap) t.is(probe('clone-newuser', file, true).out, 'ok');
  t.is(probe('ioctl-fionread', file).out, 'EPERM');
  t.is(probe('reboot', file, wrap).out, 'EPERM', 'the rest of the default stays');
  t.is(probe('clone3', file).out, 'ENOSYS');
});

// Ordinary work must not notice the filter.
const work: [string, string[], RegExp][] = [
  ['python3', ['python3', '-c', 'print(1)'], /^1$/],
  ['node', [process.execPath, '-e', 'require("fs").readFileSync("/etc/hostname"); console.log(2)'], /^2$/],
  ['ls', ['ls', '/'], /\busr\b/],
  ['a multithreaded program via sh -c', ['sh', '-c', '"$0" --probe threads', 'RUNNER'], /^ok$/],
];

for (const [what, argv, expected] of work) {
  // A command the machine lacks is declared skipped.
  when(installed(argv[0]!))(`ordinary work under the default filter: ${what}`, (t) => {
    const args = argv.map((a) => (a === 'RUNNER' ? runner : a));
    const r = run(args, defaultFilter);
    t.is(r.status, 0, r.stderr);
    t.regex(r.out, expected);
  });
}

when(installed('c++'))('ordinary work under the default filter: cc and c++ build and run a threaded C++ program', (t) => {
  // Under emulation (the arm64 guest) the compiler alone takes minutes.
  t.timeout(600_000);
  const src = join(dir, 'threads.cc');
  writeFileSync(
    src,
    [
      '#include <atomic>',
      '#include <cstdio>',
      '#include <thread>',
      '#include <vector>',
      'int main() {',
      '  std::atomic<int> n{0};',
      '  std::vector<std::thread> v;',
      '  for (int i = 0; i < 8; i++) v.emplace_back([&] { n++; });',
      '  for (auto &t : v) t.join();',
      '  std::printf("%d\\n", n.load());',
      '}',
      '',
    ].join('\n'),
  );
  const exe = join(dir, 'threads');
  const build = run(['c++', '-O1', '-pthread', '-o', exe, src], defaultFilter, false, 540_000);
  t.is(build.status, 0, build.stderr);
  const r = run([exe], defaultFilter);
  t.is(r.status, 0, r.stderr);
  t.is(r.out, '8');
});
