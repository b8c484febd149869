// Faults and edges, each as a hostile user or an unlucky operator meets it: a worker thread
// terminated with sandboxes running, a parent SIGKILLed, a wall-time limit at the documented
// maximum, fd exhaustion, `pids` with and without a pool. Each scenario runs in a process of its
// own (test/helpers/faults-*.mjs; a scope of its own on cgroup v2). Where cgroups cannot be used
// (rootless on a v1 host) the cgroup scenarios are declared skipped; the v2 guest runs them as root
// and as a delegated user.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Sandbox } from '../../lib/index.js';
import { root, runScoped, scopePrefix } from '../helpers/scoped.js';

/** Whether a process of its own (in a scope of its own on v2) gets a cgroup for limits. */
function cgroupsUsable(): boolean {
  const probe = `import { cgroupManager } from ${JSON.stringify(join(root, 'dist/lib/cgroup/index.js'))}; console.log(cgroupManager().manager !== null);`;
  const argv = [...scopePrefix(), process.execPath, '--input-type=module', '-e', probe];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.stdout.trim().split('\n').pop() === 'true';
}
const withCgroups = cgroupsUsable();
const cgroupTest = withCgroups ? test : test.skip;
const NO_CGROUP = withCgroups ? '' : ' [skipped: no usable cgroup here (rootless on cgroup v1); run in the v2 guest]';

cgroupTest(
  `a terminated worker leaves none of its sandboxes' cgroups, and a later worker's run with limits gets its own${NO_CGROUP}`,
  async (t) => {
    const r = (await runScoped('faults-worker-cgroups.mjs')) as {
      whileRunning: number;
      left: string[];
      after: { outcome: string; enforcement: string };
      leftAtEnd: string[];
    };
    t.log(`cgroup directories while worker A ran: ${r.whileRunning}`);
    t.true(r.whileRunning > 0, 'worker A held cgroups');
    t.deepEqual(r.left, [], 'none left once worker A was terminated');
    t.is(r.after.outcome, 'ok', 'worker B runs under the same limits (no EEXIST from a reused name)');
    t.not(r.after.enforcement, 'rlimit');
    t.deepEqual(r.leftAtEnd, []);
  },
);

cgroupTest(`a SIGKILLed parent's cgroups are removed by the next process's first start, even one without limits${NO_CGROUP}`, async (t) => {
  const r = (await runScoped('faults-parent-killed.mjs')) as { held: number; fresh: string; left: string[]; inits: number[] };
  t.log(`cgroup directories the killed process held: ${r.held}`);
  t.true(r.held > 0);
  t.is(r.fresh, 'ok');
  t.deepEqual(r.inits, [], 'its sandboxes died with it');
  t.deepEqual(r.left, [], 'its cgroups are gone');
});

cgroupTest(`pids counts the sandbox's init with a pool as without: the same number of forks under pids: 32${NO_CGROUP}`, async (t) => {
  const r = (await runScoped('faults-pids.mjs', [process.env['VM_GUEST'] === '1' ? '600' : '60'])) as {
    oneShot: { outcome: string; children: number; enforcement: string; stderr: string };
    warm: { outcome: string; children: number; enforcement: string; stderr: string };
    one: { oneShot: string; warm: string };
  };
  t.log(`children: one-shot ${r.oneShot.children}, warm ${r.warm.children}; pids: 1 → ${r.one.oneShot} / ${r.one.warm}`);
  t.is(r.oneShot.outcome, 'ok', r.oneShot.stderr);
  t.is(r.warm.outcome, 'ok', r.warm.stderr);
  t.is(r.oneShot.children, 30, 'init, the python process and 30 children make 32');
  t.is(r.warm.children, r.oneShot.children);
  t.is(r.one.warm, r.one.oneShot);
});

cgroupTest(`a sandbox kept warm in this process's cgroup does not keep a later Sandbox's limits from a cgroup${NO_CGROUP}`, async (t) => {
  const r = (await runScoped('faults-kept-warm.mjs')) as {
    first: string;
    kept: string;
    limited: string;
    enforcement: string;
    again: string;
  };
  t.deepEqual([r.first, r.kept, r.limited, r.again], ['ok', 'ok', 'ok', 'ok']);
  t.not(r.enforcement, 'rlimit', "the limits are a cgroup's");
});

test('a wall-time limit at the documented maximum (2147483.647 s) does not end the run at once', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const r = await new Sandbox({ wallTimeLimit: 2147483.647 }).run(['sleep', '0.3']);
    t.is(r.outcome, 'ok');
    t.true(r.wallTimeMs >= 250, `ran its 0.3 s (${r.wallTimeMs} ms)`);
    const warm = await new Sandbox({ pool: 1 }).run(['sleep', '0.3'], { wallTimeLimit: 2147483.647 });
    t.is(warm.outcome, 'ok');
  } finally {
    process.off('warning', onWarning);
  }
  t.false(warnings.includes('TimeoutOverflowWarning'));
});

test('the CLI: --wall-time-limit 2147483.647 runs the command to its end', async (t) => {
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [join(root, 'dist/lib/sandbox-cli.cjs'), 'exec', '--wall-time-limit', '2147483.647', '--', 'sleep', '0.3'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (status) => resolve({ status, stderr }));
  });
  t.is(r.status, 0, r.stderr);
});

interface FdReport {
  ok: number;
  errors: Record<string, number>;
  after: string;
  warm: string | { name: string; stage: string; code: string; message: string };
  fdsBefore: number;
  fdsAfter: number;
  cgroupsLeft: string[];
}

for (const mode of ['', 'limits']) {
  test(`under RLIMIT_NOFILE 64, 50 runs at once${mode ? ' with limits' : ''}: each runs or fails with a SandboxError naming the resource; warm() refuses a pool that does not fit`, async (t) => {
    const r = (await runScoped('faults-fds.mjs', mode ? [mode] : [])) as FdReport;
    t.log(
      `ok: ${r.ok}; errors:\n${Object.entries(r.errors)
        .map(([k, n]) => `  ${n} × ${k}`)
        .join('\n')}`,
    );
    t.true(r.ok > 0, 'some ran');
    for (const key of Object.keys(r.errors)) {
      t.regex(
        key,
        /^SandboxError stage=\S+ code=E(MFILE|NFILE): cannot \S+ .*(pipe|pidfd|fds|memfd|\/tasks|cgroup\.procs|socket|pseudo-terminal)/,
        key,
      );
      t.regex(key, /RLIMIT_NOFILE = 64/);
    }
    t.is(r.after, 'ok', 'a run after the burst works');
    t.is(r.fdsAfter, r.fdsBefore, 'no fd left by the failed runs (network namespaces the pool keeps aside)');
    t.deepEqual(r.cgroupsLeft, [], 'no cgroup left by the failed runs');
    t.like(r.warm, { name: 'SandboxError', stage: 'pool', code: 'EMFILE' });
    t.regex(
      typeof r.warm === 'string' ? r.warm : r.warm.message,
      /pool of 16 warm sandboxes .* needs about \d+ fds, .* RLIMIT_NOFILE of 64/,
    );
  });
}
