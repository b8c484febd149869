// sandbox doctor on the real machine: as the current user, and (when root) as an ordinary user via setpriv.
// The assertions follow the machine's cgroup layout, so they hold on the v1 host and in the v2 guests alike.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { diagnose, formatReport, type Check, type DoctorReport } from '../../lib/doctor/index.js';

const projectDir = fileURLToPath(new URL('../..', import.meta.url));
const NOBODY = 65534;

const byId = (r: DoctorReport, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no check ${id}`);
  return c;
};

/** What mountinfo says about the limits' controllers: on v1 hierarchies, or on cgroup2 only. */
function expectedMode(): 'v1-limits' | 'v2' {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  return / - cgroup \S+ \S*\bmemory\b/.test(mountinfo) ? 'v1-limits' : 'v2';
}

function assertDefaultsWork(t: import('ava').ExecutionContext, r: DoctorReport): void {
  for (const id of ['userns', 'mounts', 'proc', 'seccomp']) {
    t.is(byId(r, id).status, 'ok', `${id}: ${byId(r, id).detail}`);
    t.true(byId(r, id).neededByDefaults);
  }
  t.true(r.ok);
  t.is(r.exitCode, 0);
  for (const c of r.checks) {
    if (c.status === 'fail' || c.status === 'warn') t.not(c.fix, null, `${c.id} has a fix`);
  }
}

test('diagnose() here: the defaults work, cgroup mode matches mountinfo', async (t) => {
  const r = await diagnose();
  t.log(`\n${formatReport(r)}(diagnose took ${r.durationMs} ms)`);
  assertDefaultsWork(t, r);
  t.is(r.uid, process.getuid?.() ?? -1);

  const mode = expectedMode();
  if (mode === 'v1-limits') t.true(r.cgroup.mode === 'v1' || r.cgroup.mode === 'hybrid', r.cgroup.mode);
  else t.is(r.cgroup.mode, 'v2');

  if (process.getuid?.() === 0) {
    t.is(r.cgroup.enforcement, mode === 'v1-limits' ? 'cgroup1' : 'cgroup2');
  } else if (mode === 'v1-limits') {
    t.is(r.cgroup.enforcement, 'rlimit');
  } else if (process.env.VM_DELEGATED_CGROUP !== undefined) {
    // The guest's `--user` runs in a delegated scope (test/vm/run.sh).
    t.is(r.cgroup.enforcement, 'cgroup2');
    t.is(byId(r, 'cgroup-limits').status, 'ok');
  }
  if (r.cgroup.enforcement === 'cgroup2') t.is(byId(r, 'memory_peak').status, 'ok');
  t.true(Number.isFinite(r.durationMs) && r.durationMs >= 0, `durationMs: ${r.durationMs}`);
});

/** Why uid 65534 cannot run this checkout's doctor, or null when it can. */
function nobodyCannotRun(): string | null {
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'setpriv (util-linux) not found';
  // The child loads this checkout: uid 65534 must be able to read it.
  const probe = spawnSync(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      process.execPath,
      '-e',
      `require('fs').accessSync(${JSON.stringify(`${projectDir}node_modules/tsx/package.json`)}, require('fs').constants.R_OK)`,
    ],
    { cwd: '/' },
  );
  if (probe.status !== 0) return `uid ${NOBODY} cannot read ${projectDir} and its node_modules`;
  return null;
}

// Not spawnSync: it would block this worker's event loop while the other test's probes are running.
function runAsNobody(script: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const args = [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    process.execPath,
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    script,
  ];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', LANG: 'C' };
  return new Promise((resolve) => {
    execFile('setpriv', args, { cwd: projectDir, env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ status: code, stdout, stderr });
    });
  });
}

// Root switches to uid 65534 for this one; the rootless pass of npm test runs the test above as 65534 itself.
if (process.getuid?.() === 0)
  test('sandbox doctor --json as uid 65534 via setpriv: rootless, exit 0', async (t) => {
    accessSync(projectDir, constants.R_OK);
    const cannot = nobodyCannotRun();
    if (cannot !== null) return t.fail(cannot);
    const child = await runAsNobody("import { runDoctor } from './lib/cli/doctor.ts'; process.exitCode = await runDoctor(['--json']);");
    t.is(child.stderr, '');
    const r = JSON.parse(child.stdout) as DoctorReport;
    t.log(`\n${formatReport(r)}`);
    t.is(child.status, 0);
    t.is(r.uid, NOBODY);
    assertDefaultsWork(t, r);
    // Nobody owns no cgroup here or in the guest: limits fall back to rlimits, which the defaults do not need.
    const limits = byId(r, 'cgroup-limits');
    t.is(r.cgroup.enforcement, 'rlimit');
    t.is(limits.status, 'warn');
    t.false(limits.neededByDefaults);
    t.regex(limits.detail, /enforcement: rlimit/);
    t.regex(limits.fix ?? '', /systemd-run --user --scope -p Delegate=yes|run as root/);
  });
