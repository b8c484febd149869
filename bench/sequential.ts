// One caller, one run at a time: p50 and CPU per run (this process + its reaped children, from
// /proc/self/stat; and the whole machine's busy time, /proc/stat) of `/bin/true` through `spawn`,
// a sandbox built per run (idleTimeout: 0), with `network: 'host'`, and a warm sandbox, each in its own block
// of runs after a warm-up. The CPU split says where a launch's cost is (Node's side, or init's
// setup in the children).
import { Sandbox } from '../lib/index.js';
import {
  cpuMs,
  isMain,
  machineBusyMs,
  ms,
  note,
  nowMs,
  percentile,
  row,
  runAlone,
  spawnToExit,
  type BenchOptions,
  type Row,
} from './common.js';

async function block(name: string, run: () => Promise<unknown>, budgetMs: number): Promise<Row> {
  for (let i = 0; i < 30; i++) await run();
  const walls: number[] = [];
  const c0 = cpuMs();
  const m0 = machineBusyMs();
  const deadline = nowMs() + budgetMs;
  while (walls.length < 400 && (walls.length < 50 || nowMs() < deadline)) {
    const t0 = nowMs();
    await run();
    walls.push(nowMs() - t0);
  }
  const c1 = cpuMs();
  const m1 = machineBusyMs();
  const n = walls.length;
  note(`sequential: ${name}, ${n} runs`);
  return row(
    `sequential ${name}: p50 (n=${n}); CPU per run, Node + children; the whole machine's`,
    ms(percentile(walls, 50)),
    `${ms((c1.self - c0.self) / n)} + ${ms((c1.children - c0.children) / n)}; ${ms((m1 - m0) / n)}`,
  );
}

export async function sequential(o: BenchOptions): Promise<Row[]> {
  const share = (o.budgetS * 1000) / 4;
  const plain = new Sandbox({ idleTimeout: 0 });
  const hostNet = new Sandbox({ network: 'host', idleTimeout: 0 });
  // A warm sandbox's runs are reaped by its own init: their CPU is in the machine's figure only.
  const warm = new Sandbox({ pool: 1 });
  await warm.warm();
  const rows = [
    await block('spawn(/bin/true)', () => spawnToExit(['/bin/true']), share),
    await block('run(/bin/true), built per run', () => plain.run(['/bin/true']), share),
    await block("run(/bin/true), network 'host'", () => hostNet.run(['/bin/true']), share),
    await block('run(/bin/true), warm sandbox (pool: 1)', () => warm.run(['/bin/true']), share),
  ];
  await warm.close();
  return rows;
}

if (isMain(import.meta.url)) await runAlone('sequential', sequential, Number(process.env.BENCH_BUDGET_S ?? 20));
