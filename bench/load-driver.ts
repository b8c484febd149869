// A second process that puts a benchmark's load on the machine without the benchmark's process doing
// any of it: warm sandboxes run /bin/true from `callers` concurrent callers. eventloop.ts measures its
// own (idle) event loop meanwhile: the delay any loop on this machine sees from the load alone.
//
//   node dist/bench/load-driver.js CALLERS RUNS SECONDS [limits]
//
// Prints "ready" once its sandboxes are warm, starts on a line on stdin, prints "done RUNS SECONDS"
// when RUNS runs have ended (or SECONDS have passed) and exits.
import { createInterface } from 'node:readline';
import { Sandbox } from '../lib/index.js';
import { nowMs } from './common.js';
import { LIMITS } from './latency.js';

const [callers, runs, seconds] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const box = new Sandbox({ ...(process.argv[5] === 'limits' ? LIMITS : {}), pool: callers });
await box.warm();
for (let i = 0; i < 20; i++) await box.run(['/bin/true']);
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
await new Promise((r) => lines.once('line', r));
lines.close();
const t0 = nowMs();
const deadline = t0 + seconds * 1000;
let started = 0;
await Promise.all(
  Array.from({ length: callers }, async () => {
    while (started < runs && nowMs() < deadline) {
      started++;
      await box.run(['/bin/true']);
    }
  }),
);
process.stdout.write(`done ${started} ${((nowMs() - t0) / 1000).toFixed(3)}\n`);
await box.close();
