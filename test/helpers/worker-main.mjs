// Sandboxes run from worker threads (ava's default, test harnesses): two workers run sandboxes
// (one-shot and warm) and are terminated with sandboxes still running. Node aborts a worker whose
// event loop still has an open handle, so the addon must close every one of its own, and end the
// sandboxes it started. Prints one JSON line.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Sandbox } from '../../dist/lib/index.js';

const lib = new URL('../../dist/lib/index.js', import.meta.url).href;
const code = `
import { Sandbox } from ${JSON.stringify(lib)};
import { parentPort } from 'node:worker_threads';
const warm = new Sandbox({ pool: 1 });
let ok = 0;
for (let i = 0; i < 10; i++) {
  const r = await warm.run(['sh', '-c', 'echo out; echo err >&2']);
  if (r.stdout.toString() === 'out\\n' && r.stderr.toString() === 'err\\n') ok++;
}
// With a limit: as root, each run's cgroup removed by the addon's lane (csrc/lane.h), a thread of
// the worker's own that must end with the worker.
const limited = new Sandbox({ pids: 64 });
for (let i = 0; i < 5; i++) if ((await limited.run(['true'])).outcome === 'ok') ok++;
const oneShot = new Sandbox().spawn(['sleep', '30']);
const warmRun = new Sandbox({ pool: 1 });
await warmRun.warm();
const busy = warmRun.spawn(['sleep', '30']);
parentPort.postMessage({ ok, pids: [oneShot.pid, busy.pid] });
`;
const workers = [1, 2].map(() => new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`)));
const reports = await Promise.all(
  workers.map((w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))),
);
const exitCodes = await Promise.all(workers.map((w) => w.terminate()));
const alive = reports
  .flatMap((r) => r.pids)
  .filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
// The ended workers' lanes: none of their threads is left (the main thread has used no cgroup).
const lanes = fs.readdirSync('/proc/self/task').filter((t) => {
  try {
    return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'sandbox-lane';
  } catch {
    return false;
  }
}).length;
// The main thread's sandboxes still work after its workers' ended.
const after = await new Sandbox().run(['echo', 'main']);
// Their state letter (Z: killed but not reaped, a zombie until the process exits).
const states = alive.map((pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].slice(0, 1);
  } catch {
    return 'gone';
  }
});
console.log(JSON.stringify({ ok: reports.map((r) => r.ok), exitCodes, alive, states, lanes, main: after.stdout.toString() }));
