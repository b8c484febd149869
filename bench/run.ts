// `npm run bench`: every benchmark in one process, within 5 minutes, one markdown table.
// Each benchmark gets a share of the time and scales its iteration counts to it; what is left over
// by one is passed on to the next.
import { availableParallelism, release } from 'node:os';
import { readFileSync } from 'node:fs';
import { accuracy } from './accuracy.js';
import { cli } from './cli.js';
import { loadText, note, nowMs, printTable, row, type BenchOptions, type Row } from './common.js';
import { eventloop } from './eventloop.js';
import { imageRunBench } from './image-run.js';
import { latency } from './latency.js';
import { scale } from './scale.js';
import { sequential } from './sequential.js';
import { throughputBench } from './throughput.js';

const TOTAL_S = 280;

// Shares in seconds (sequential's 15 come out of scale's rest). accuracy's runs are of fixed length (about 30 s). scale comes last: tearing
// down a thousand sandboxes keeps kernel workers busy for seconds afterwards.
const plan: [string, (o: BenchOptions) => Promise<Row[]>, number][] = [
  ['cli', cli, 15],
  ['latency', latency, 40],
  ['image-run', imageRunBench, 20],
  ['sequential', sequential, 15],
  ['accuracy', accuracy, 35],
  ['eventloop', eventloop, 35],
  ['throughput', throughputBench, 105],
  ['scale', scale, TOTAL_S],
];

function cgroupMode(): string {
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    if (/ \/sys\/fs\/cgroup cgroup2 /.test(mounts)) return 'cgroup v2';
    if (/ cgroup /.test(mounts)) return 'cgroup v1';
  } catch {
    // fall through
  }
  return 'none';
}

const started = nowMs();
const rows: Row[] = [];
const loads: string[] = [];
let planned = 0;
for (const [name, bench, share] of plan) {
  planned += share;
  // Spend no more than planned so far allows, and never past the total.
  const spent = (nowMs() - started) / 1000;
  const budgetS = Math.max(5, Math.min(planned - spent, TOTAL_S - spent));
  note(`${name}: budget ${budgetS.toFixed(0)} s, load ${loadText()}`);
  loads.push(`${name} ${loadText()}`);
  try {
    rows.push(...(await bench({ budgetS })));
  } catch (e) {
    rows.push(row(`${name}`, `failed: ${(e as Error).message}`));
  }
}
const uid = process.getuid?.() ?? -1;
console.log(
  `Machine: ${availableParallelism()} CPUs, Linux ${release()}, ${cgroupMode()}, Node ${process.version}, ` +
    `${uid === 0 ? 'root' : `uid ${uid}`}; total ${((nowMs() - started) / 1000).toFixed(0)} s.`,
);
console.log(`Load average (1, 5, 15 min) at the start of each: ${loads.join('; ')}; at the end ${loadText()}.`);
printTable(rows);
