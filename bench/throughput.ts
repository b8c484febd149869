// Runs per second of `/bin/true`: 2 concurrent callers with and without limits against bubblewrap
// and child_process.spawn at 2; scaling at 1, 2, 8, 64 callers; and drift over a long sequential
// series (targets 3 and 6 of bench/README.md).
import { Sandbox } from '../lib/index.js';
import {
  BWRAP_TRUE,
  compare,
  haveBwrap,
  isMain,
  ms,
  note,
  nowMs,
  percentile,
  perS,
  rate,
  ratio,
  row,
  runAlone,
  spawnToExit,
  throughput,
  type BenchOptions,
  type Rate,
  type Row,
} from './common.js';
import { LIMITS } from './latency.js';

function cpuText(r: Rate): string {
  return `${r.selfMs.toFixed(2)} + ${r.childrenMs.toFixed(2)} ms`;
}

export async function throughputBench(o: BenchOptions): Promise<Row[]> {
  const plain = new Sandbox({ idleTimeout: 0 });
  const hostNet = new Sandbox({ network: 'host', idleTimeout: 0 });
  const limited = new Sandbox({ ...LIMITS, idleTimeout: 0 });
  const sbx = () => plain.run(['/bin/true']);
  const lim = () => limited.run(['/bin/true']);
  // Warm sandboxes, one per caller.
  const warm = new Sandbox({ pool: 2 });
  const warmLimited = new Sandbox({ ...LIMITS, pool: 2 });
  await Promise.all([warm.warm(), warmLimited.warm()]);
  const bwrap = await haveBwrap();
  const started = nowMs();
  // Four tenths of the budget for the fixed-length windows, the rest for the sequential series.
  const windows = 10 + (bwrap ? 1 : 0);
  const win = Math.max(2, Math.min(6, (o.budgetS * 0.4) / windows));
  await throughput(sbx, 2, 0.5); // warm-up

  const spawnR = await rate(() => spawnToExit(['/bin/true']), 2, win);
  const sbxR = await rate(sbx, 2, win);
  const limR = await rate(lim, 2, win);
  const hostR = await rate(() => hostNet.run(['/bin/true']), 2, win);
  const warmR = await rate(() => warm.run(['/bin/true']), 2, win);
  const warmLimR = await rate(() => warmLimited.run(['/bin/true']), 2, win);
  await Promise.all([warm.close(), warmLimited.close()]);
  const bwrapR = bwrap ? await rate(() => spawnToExit(BWRAP_TRUE), 2, win) : null;
  const [spawn2, sbx2, lim2] = [spawnR.perS, sbxR.perS, limR.perS];
  const bwrap2 = bwrapR?.perS ?? NaN;
  const scaling: [number, number][] = [];
  for (const callers of [1, 8, 64]) scaling.push([callers, await throughput(sbx, callers, win)]);
  scaling.splice(1, 0, [2, sbx2]);
  note(`throughput: windows of ${win.toFixed(1)} s`);

  const bwrapOrSpawn = (figure: string, r: number, target: string) =>
    bwrap ? compare(figure, perS, r, 'bwrap', bwrap2, target) : compare(figure, perS, r, 'spawn', spawn2, target);
  const cpu = (r: Rate) => r.selfMs + r.childrenMs;
  const cpuRow = (figure: string, r: Rate, baseName: string, base: Rate) =>
    row(figure, cpuText(r), `${baseName} ${cpuText(base)}`, ratio(cpu(r), cpu(base)));
  const vsBwrap = (figure: string, r: number, target: string) =>
    bwrap ? compare(figure, perS, r, 'bwrap', bwrap2, target) : row(figure, perS(r), 'bwrap missing', '', target);
  const rows: Row[] = [
    vsBwrap('runs/s, 2 callers, built per run', sbx2, '≥ 900/s and ≥ 3× bwrap'),
    vsBwrap('runs/s, 2 callers, limits', lim2, '≥ 600/s'),
    bwrapOrSpawn('runs/s, 2 callers, warm sandboxes (pool: 2)', warmR.perS, '≥ 900/s and ≥ 3× bwrap'),
    bwrapOrSpawn('runs/s, 2 callers, warm sandboxes with limits', warmLimR.perS, '≥ 600/s'),
    row('runs/s, 2 callers, spawn(/bin/true)', perS(spawn2), '', '', ''),
    compare('runs/s, 2 callers, warm vs spawn', perS, warmR.perS, 'spawn', spawn2),
    compare('runs/s, 2 callers, built per run vs spawn', perS, sbx2, 'spawn', spawn2),
    compare("diag: runs/s, 2 callers, network 'host'", perS, hostR.perS, 'built per run', sbx2),
    cpuRow('diag: CPU per run, Node + its children, 2 callers, built per run', sbxR, 'spawn', spawnR),
    // A warm sandbox's runs are reaped by its init, not by Node: the whole machine's busy time.
    compare('diag: machine CPU per run (all processes), warm sandboxes', ms, warmR.machineMs, 'spawn', spawnR.machineMs),
    compare('diag: machine CPU per run, warm sandboxes with limits', ms, warmLimR.machineMs, 'spawn', spawnR.machineMs),
    compare('diag: machine CPU per run, built per run', ms, sbxR.machineMs, 'spawn', spawnR.machineMs),
    compare('diag: Node CPU per run, warm sandboxes', ms, warmR.selfMs, 'spawn', spawnR.selfMs),
    cpuRow('diag: CPU per run, limits', limR, 'built per run', sbxR),
    cpuRow("diag: CPU per run, network 'host'", hostR, 'built per run', sbxR),
  ];
  if (bwrapR !== null) rows.push(cpuRow('diag: CPU per run, bwrap from Node', bwrapR, 'built per run', sbxR));
  for (const [callers, r] of scaling) {
    rows.push(compare(`runs/s, ${callers} caller${callers > 1 ? 's' : ''}, built per run`, perS, r, '1 caller', scaling[0]![1]));
  }

  // Drift: up to 10,000 sequential runs, cut short when the budget is spent; the first and last
  // windows (1,000 runs, or a tenth of what ran) are compared.
  const deadline = Math.max(started + o.budgetS * 1000, nowMs() + 10_000);
  const times: number[] = [];
  const target = 10_000;
  while (times.length < target && nowMs() < deadline) {
    const t0 = nowMs();
    await sbx();
    times.push(nowMs() - t0);
  }
  const n = times.length;
  const w = Math.min(1000, Math.floor(n / 10));
  const perSecond = (xs: number[]) => xs.length / (xs.reduce((a, b) => a + b, 0) / 1000);
  const first = perSecond(times.slice(0, w));
  const last = perSecond(times.slice(n - w));
  const shortened = n < target ? ` (budget: ${n} of 10,000 ran)` : '';
  rows.push(
    row(`runs/s, last ${w} of ${n} sequential${shortened}`, perS(last), `first ${w}: ${perS(first)}`, ratio(last, first), '≥ 0.90×'),
  );
  // Means move with the machine's other load; the windows in order, and the medians, tell a trend
  // (a leak slows every run) from a noisy minute (a few slow runs).
  const byWindow = Array.from({ length: Math.floor(n / w) }, (_, i) => Math.round(perSecond(times.slice(i * w, (i + 1) * w))));
  const p50First = percentile(times.slice(0, w), 50);
  const p50Last = percentile(times.slice(n - w), 50);
  rows.push(
    row(
      `diag: the same, p50 per run, last vs first ${w}; runs/s per window in order`,
      `${ms(p50Last)} vs ${ms(p50First)}; ${byWindow.join(' ')}`,
      '',
      ratio(p50First, p50Last),
      '',
    ),
  );
  return rows;
}

if (isMain(import.meta.url)) await runAlone('throughput', throughputBench, Number(process.env.BENCH_BUDGET_S ?? 110));
