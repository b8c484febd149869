// Workers that run sandboxes in a tight loop are terminated mid-run, round after round, in one
// process: the addon's loop callbacks then run while the worker's environment is being torn down,
// where JS may no longer run. Any failure there that reaches node-addon-api's error path would
// abort the whole process (exit 134); the process must instead live through every round.
// Usage: node worker-terminate.mjs ROUNDS WORKERS [exit]. Prints one JSON line; with `exit`, the
// process instead exits (status 3) while its workers' runs go on.
import { Worker } from 'node:worker_threads';

const rounds = Number(process.argv[2] ?? 50);
const workers = Number(process.argv[3] ?? 4);
const exitMidRun = process.argv[4] === 'exit';
const lib = new URL('../../dist/lib/index.js', import.meta.url).href;
const code = `
import { Sandbox } from ${JSON.stringify(lib)};
import { parentPort } from 'node:worker_threads';
const box = new Sandbox({});
let first = true;
for (;;) {
  await box.run(['true']);
  if (first) parentPort.postMessage('running');
  first = false;
}
`;
const url = new URL(`data:text/javascript,${encodeURIComponent(code)}`);
let terminated = 0;
for (let i = 0; i < rounds; i++) {
  const ws = Array.from({ length: workers }, () => new Worker(url));
  await Promise.all(ws.map((w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))));
  // A few runs in flight in each worker when it is terminated, at a different point each round.
  await new Promise((r) => setTimeout(r, 5 + (i % 7) * 11));
  if (exitMidRun) process.exit(3);
  await Promise.all(ws.map((w) => w.terminate()));
  terminated += ws.length;
}
console.log(JSON.stringify({ rounds, terminated }));
