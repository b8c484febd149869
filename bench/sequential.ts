// One caller, one run at a time: p50 and CPU per run (this process + its reaped children, from
// /proc/self/stat) of `/bin/true` through `spawn`, the sandbox on the defaults, and the sandbox
// with `network: 'host'`, each in its own block of runs after a warm-up. The CPU split says where a
// launch's cost is (Node's side, or init's setup in the children); README "Performance" quotes it.
import { Sandbox } from '../lib/index.js';
import { cpuMs, isMain, ms, note, nowMs, percentile, row, runAlone, spawnToExit, type BenchOptions, type Row } from './common.js';

async function block(name: string, run: () => Promise<unknown>, budgetMs: number): Promise<Row> {
  for (let i = 0; i < 30; i++) await run();
  const walls: number[] = [];
  const c0 = cpuMs();
  const deadline = nowMs() + budgetMs;
  while (walls.length < 400 && (walls.length < 50 || nowMs() < deadline)) {
    const t0 = nowMs();
    await run();
    walls.push(nowMs() - t0);
  }
  const c1 = cpuMs();
  const n = walls.length;
  note(`sequential: ${name}, ${n} runs`);
  return row(
    `sequential ${name}: p50 (n=${n}); CPU per run, Node + children`,
    ms(percentile(walls, 50)),
    `${ms((c1.self - c0.self) / n)} + ${ms((c1.children - c0.children) / n)}`,
  );
}

export async function sequential(o: BenchOptions): Promise<Row[]> {
  const share = (o.budgetS * 1000) / 3;
  const plain = new Sandbox();
  const hostNet = new Sandbox({ network: 'host' });
  return [
    await block('spawn(/bin/true)', () => spawnToExit(['/bin/true']), share),
    await block('run(/bin/true), defaults', () => plain.run(['/bin/true']), share),
    await block("run(/bin/true), network 'host'", () => hostNet.run(['/bin/true']), share),
  ];
}

if (isMain(import.meta.url)) await runAlone('sequential', sequential, Number(process.env.BENCH_BUDGET_S ?? 20));
