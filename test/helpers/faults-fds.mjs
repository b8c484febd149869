// Under a small RLIMIT_NOFILE, many runs at once: each one either runs or fails with a SandboxError
// that has a stage and a code and names the resource. Then a warm pool too large for the limit:
// warm() says so. Prints one JSON line.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { Sandbox } from '../../dist/lib/index.js';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

// The soft limit goes down to 64 once the modules are loaded (prlimit(1) on this process): Node's
// loader reads a module graph's files at once, and under 64 fds from the start it can fail its
// own start-up with EMFILE.
const lowered = spawnSync('prlimit', ['--pid', String(process.pid), '--nofile=64:'], { encoding: 'utf8' });
if (lowered.status !== 0) throw new Error(`prlimit: ${lowered.stderr || lowered.error}`);

const errors = {};
const note = (e) => {
  const key = `${e?.name} stage=${e?.stage} code=${e?.code}: ${String(e?.message).replace(/sandbox-\d+-\d+-\d+/g, 'sandbox-N')}`;
  errors[key] = (errors[key] ?? 0) + 1;
};
const settle = (promises) =>
  Promise.all(
    promises.map((p) =>
      p.then(
        (r) => r.outcome,
        (e) => (note(e), 'error'),
      ),
    ),
  );
const limits = process.argv[2] === 'limits' ? { memory: '64m', pids: 16 } : {};
// Built per run (idleTimeout: 0): sandboxes kept warm would hold fds of their own and end on a
// timer of their own while this counts.
const box = new Sandbox({ ...limits, idleTimeout: 0 });
// Less the network namespaces the pool keeps ready (lib/netns-pool.ts: trimmed after 10 s idle).
const fds = () =>
  fs.readdirSync('/proc/self/fd').filter((f) => {
    try {
      return !fs.readlinkSync(`/proc/self/fd/${f}`).startsWith('net:[');
    } catch {
      return false; // readdir's own
    }
  }).length;
// The count once it holds still: what a run closes after its result (the cgroup end job, the
// sandbox's pipes once init is reaped) takes a moment, far longer in an emulated guest under load.
const quiet = process.env.VM_GUEST === '1' ? 50 : 10;
const settledFds = async () => {
  let last = fds();
  for (let same = 0, polls = 0; same < quiet && polls < 1200; polls++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = fds();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
};
await box.run(['true']); // the process's own fds (addon, lane, /dev/null) are made by the first run
const fdsBefore = await settledFds();
const outcomes = await settle(Array.from({ length: 50 }, () => box.run(['true'])));
const ok = outcomes.filter((o) => o === 'ok').length;
// After the burst, with fds free again, a run works.
const after = await box.run(['true']).then(
  (r) => r.outcome,
  (e) => `${e.name} ${e.stage} ${e.message}`,
);
// Nothing of the failed runs is left: no fd, no cgroup (a pipe or cgroup fd made before the failure included).
const fdsAfter = await settledFds();
const parents = cgroupManager().manager?.parents ?? [];
const cgroupsLeft = parents.flatMap((p) => fs.readdirSync(p).filter((n) => n.startsWith(`sandbox-${process.pid}-`)));
const pool = new Sandbox({ ...limits, pool: 16 });
const warm = await pool.warm().then(
  () => 'ready',
  (e) => ({ name: e.name, stage: e.stage, code: e.code, message: e.message }),
);
await pool.close();
console.log(JSON.stringify({ ok, errors, after, warm, fdsBefore, fdsAfter, cgroupsLeft }));
