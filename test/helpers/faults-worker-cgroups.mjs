// A worker thread terminated with sandboxes running leaves none of its cgroups while the process
// lives, and a later worker's runs with limits still get cgroups of their own. Worker A holds a
// one-shot run and a warm run with limits (and the cgroups its pool made ahead) when it is
// terminated; worker B then runs under the same limits. Prints one JSON line.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

const lib = new URL('../../dist/lib/index.js', import.meta.url).href;
const holding = `
import { Sandbox } from ${JSON.stringify(lib)};
import { parentPort } from 'node:worker_threads';
const oneShot = new Sandbox({ memory: '64m', pids: 16 }).spawn(['sleep', '100']);
const pool = new Sandbox({ memory: '64m', pids: 16, pool: 2 });
await pool.warm();
const warm = pool.spawn(['sleep', '100']);
await new Promise((r) => setTimeout(r, 300));
parentPort.postMessage({ pids: [oneShot.pid, warm.pid] });
`;
const later = `
import { Sandbox } from ${JSON.stringify(lib)};
import { parentPort } from 'node:worker_threads';
const r = await new Sandbox({ memory: '64m', pids: 16 }).run(['true']);
parentPort.postMessage({ outcome: r.outcome, enforcement: r.enforcement });
`;
const start = (code) => new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
const message = (w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));

const { manager } = cgroupManager();
const ours = () =>
  (manager?.parents ?? []).flatMap((p) =>
    fs
      .readdirSync(p)
      .filter((n) => n.startsWith(`sandbox-${process.pid}-`))
      .map((n) => path.join(p, n)),
  );

const a = start(holding);
const held = await message(a);
const whileRunning = ours().length;
await a.terminate();
const left = ours();
const b = start(later);
const after = await message(b);
await b.terminate();
console.log(JSON.stringify({ cgroups: manager !== null, held: held.pids.length, whileRunning, left, after, leftAtEnd: ours() }));
