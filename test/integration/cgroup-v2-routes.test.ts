// Limits that hold where users are, on cgroup v2 under systemd (docs/cgroups-v2.md): `sandbox exec`
// under `timeout`, next to a sibling process, from the caller's shared cgroup (a login session's
// scope; a service shared with the test runner) and from a service with Delegate=yes. Each gets
// memory-limit with cgroup2 enforcement, --cpus holds, and nothing is left in any cgroup after.
// Runs in the x86_64 guest: test/vm/run.sh x86_64 cgv2 --systemd [--user].
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/lib/sandbox-cli.cjs');
const euid = process.geteuid?.() ?? -1;
const CGROUP_ROOT = '/sys/fs/cgroup';

function unifiedV2(): boolean {
  try {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => / \/sys\/fs\/cgroup .* - cgroup2 /.test(l));
  } catch {
    return false;
  }
}
const underSystemd = fs.existsSync('/run/systemd/system');
const ready = unifiedV2() && underSystemd && fs.existsSync(cli);
const skipWhy = !unifiedV2()
  ? 'needs cgroup v2 (run in the guest: test/vm/run.sh x86_64 cgv2 --systemd [--user])'
  : !underSystemd
    ? 'needs systemd as PID 1 (test/vm/run.sh x86_64 cgv2 --systemd [--user])'
    : 'needs the built CLI (npm run build)';
const v2test = ready ? test.serial : (title: string, _fn: unknown) => test.skip(`${title} (${skipWhy})`, () => {});

/** A program touching 400 MB. */
const TOUCHER = ['python3', '-c', 'b = bytearray(400 << 20); print(len(b))'];
/** The way the sandbox cgroups' parent is chosen when the caller shares its cgroup (docs/cgroups-v2.md). */
const SHARED_VIA = euid === 0 ? 'own-subtree' : 'systemd-scope';

interface Ran {
  status: number | null;
  stderr: string;
  result: Record<string, unknown> | null;
}

function run(argv: string[]): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', fail);
    child.on('close', (status) => {
      const line = stderr.split('\n').find((l) => l.startsWith('{"outcome"'));
      done({ status, stderr, result: line === undefined ? null : (JSON.parse(line) as Record<string, unknown>) });
    });
  });
}

const sandboxExec = (...args: string[]) => [process.execPath, cli, 'exec', '--json', ...args];

/** Cgroup directories below /sys/fs/cgroup: `take` says which to list, `enter` which to walk into. */
function cgroupsWhere(take: (name: string) => boolean, enter: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const full = path.join(dir, e.name);
      if (take(e.name)) out.push(full);
      if (enter(e.name)) walk(full);
    }
  };
  walk(CGROUP_ROOT);
  return out.sort();
}

/** Every cgroup directory, but the sandboxes' own and systemd's transient units (which come and go). */
const transient = (name: string) => /^(sandbox|run-)/.test(name) || name.endsWith('.mount');
const cgroupDirs = () =>
  cgroupsWhere(
    (n) => !transient(n),
    (n) => !transient(n),
  );
/** Directories whose name is one of the sandbox's (leaves, supervisor leaves, scopes, the own subtree). */
const sandboxDirs = () =>
  cgroupsWhere(
    (n) => n.startsWith('sandbox'),
    () => true,
  );

// The user's D-Bus daemon is socket-activated by its first client (the route's busctl call): started
// before the snapshot, it is not taken for a change of ours.
if (ready && euid !== 0) spawnSync('busctl', ['--user', 'list', '--no-pager'], { stdio: 'ignore' });
const before = ready ? cgroupDirs() : [];
/** Supervisor leaves of processes that outlive the test (ava's own, when it moved itself): not ours to judge. */
const preexisting = ready ? new Set(sandboxDirs()) : new Set<string>();

function memoryLimited(t: import('ava').ExecutionContext, r: Ran, via: string): void {
  t.not(r.result, null, r.stderr);
  t.is(r.result!['outcome'], 'memory-limit', r.stderr);
  t.is(r.result!['enforcement'], 'cgroup2');
  t.is(r.result!['cgroupVia'], via);
  t.is(r.status, 137);
  t.true((r.result!['memoryPeakBytes'] as number) <= 64 << 20);
  t.notRegex(r.stderr, /limits not enforced as asked/);
}

v2test('the cost of the first cgroupManager() call (a scope from the user manager, or the own subtree)', async (t) => {
  // The addon is loaded first: its load is not the route's cost.
  const code = `import { cgroupManager, scopeCostMs } from './dist/lib/cgroup/index.js';
    import { native } from './dist/lib/native.js';
    native();
    const t0 = performance.now(); const r = cgroupManager(); const ms = performance.now() - t0;
    console.log(JSON.stringify({ via: r.manager?.via ?? null, reason: r.manager === null ? r.reason : null, ms, scopeMs: scopeCostMs() }));`;
  const out = spawnSync(
    'bash',
    ['-c', 'sleep 30 & s=$!; "$@"; r=$?; kill $s; exit $r', 'bash', process.execPath, '--input-type=module', '-e', code],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  t.is(out.status, 0, out.stderr);
  const figures = JSON.parse(out.stdout.trim()) as { via: string; ms: number; scopeMs: number | null };
  t.log(
    `uid ${euid}: first cgroupManager() ${figures.ms.toFixed(1)} ms, of which the scope ${figures.scopeMs?.toFixed(1) ?? '-'} ms (under emulation)`,
  );
  t.is(figures.via, SHARED_VIA);
});

v2test('under timeout: -m 64m on a 400 MB toucher is memory-limit with cgroup2', async (t) => {
  memoryLimited(t, await run(['timeout', '600', ...sandboxExec('-m', '64m', '--', ...TOUCHER)]), SHARED_VIA);
});

v2test('under bash -c with a sibling process: memory-limit with cgroup2', async (t) => {
  const argv = ['bash', '-c', 'sleep 600 & s=$!; "$@"; r=$?; kill $s; exit $r', 'bash', ...sandboxExec('-m', '64m', '--', ...TOUCHER)];
  memoryLimited(t, await run(argv), SHARED_VIA);
});

v2test("from the caller's cgroup shared with other processes (the session scope; the runner's service)", async (t) => {
  memoryLimited(t, await run(sandboxExec('-m', '64m', '--', ...TOUCHER)), SHARED_VIA);
});

v2test('from a service with Delegate=yes: the CLI moves itself into a leaf of it', async (t) => {
  const systemdRun = [
    'systemd-run',
    ...(euid === 0 ? [] : ['--user']),
    '--wait',
    '--pipe',
    '--quiet',
    '--collect',
    '-p',
    'Delegate=yes',
    `--working-directory=${root}`,
  ];
  memoryLimited(t, await run([...systemdRun, '--', ...sandboxExec('-m', '64m', '--', ...TOUCHER)]), 'caller');
});

v2test('--cpus 0.5 on two busy processes gets about half a CPU', async (t) => {
  const r = await run([
    'timeout',
    '600',
    ...sandboxExec('--cpus', '0.5', '--wall-time-limit', '5', '--', 'sh', '-c', 'while :; do :; done & while :; do :; done'),
  ]);
  t.not(r.result, null, r.stderr);
  t.is(r.result!['enforcement'], 'cgroup2');
  t.is(r.result!['outcome'], 'wall-time-limit');
  const share = (r.result!['cpuTimeMs'] as number) / (r.result!['wallTimeMs'] as number);
  t.log(`CPU share ${share.toFixed(3)} of one CPU`);
  t.true(share > 0.35 && share < 0.65, `share ${share}`);
});

v2test('nothing is left in any cgroup, and the cgroups the project did not make are unchanged', async (t) => {
  // Scopes and units end with their processes: systemd collects them shortly after.
  for (let i = 0; i < 50 && sandboxDirs().some((d) => !preexisting.has(d)); i++) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(
    sandboxDirs().filter((d) => !preexisting.has(d)),
    [],
  );
  t.deepEqual(cgroupDirs(), before);
  const units = spawnSync('systemctl', [...(euid === 0 ? [] : ['--user']), 'list-units', '--all', '--no-legend', 'sandbox-*'], {
    encoding: 'utf8',
  });
  t.is(units.stdout.trim(), '');
});
