// Under a small RLIMIT_NOFILE (the caller sets it: `ulimit -n 64`), many runs at once: each one
// either runs or fails with a SandboxError that has a stage and a code and names the resource.
// Then a warm pool too large for the limit: warm() says so. Prints one JSON line.
import fs from 'node:fs';
import { Sandbox } from '../../dist/lib/index.js';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

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
const box = new Sandbox(limits);
// Less the network namespaces the pool keeps ready (lib/netns-pool.ts: trimmed after 10 s idle).
const fds = () =>
  fs.readdirSync('/proc/self/fd').filter((f) => {
    try {
      return !fs.readlinkSync(`/proc/self/fd/${f}`).startsWith('net:[');
    } catch {
      return false; // readdir's own
    }
  }).length;
await box.run(['true']); // the process's own fds (addon, lane, /dev/null) are made by the first run
const fdsBefore = fds();
const outcomes = await settle(Array.from({ length: 50 }, () => box.run(['true'])));
const ok = outcomes.filter((o) => o === 'ok').length;
// After the burst, with fds free again, a run works.
const after = await box.run(['true']).then(
  (r) => r.outcome,
  (e) => `${e.name} ${e.stage} ${e.message}`,
);
// Nothing of the failed runs is left: no fd, no cgroup (a pipe or cgroup fd made before the failure included).
await new Promise((r) => setTimeout(r, 200));
const fdsAfter = fds();
const parents = cgroupManager().manager?.parents ?? [];
const cgroupsLeft = parents.flatMap((p) => fs.readdirSync(p).filter((n) => n.startsWith(`sandbox-${process.pid}-`)));
const pool = new Sandbox({ ...limits, pool: 16 });
const warm = await pool.warm().then(
  () => 'ready',
  (e) => ({ name: e.name, stage: e.stage, code: e.code, message: e.message }),
);
await pool.close();
console.log(JSON.stringify({ ok, errors, after, warm, fdsBefore, fdsAfter, cgroupsLeft }));
