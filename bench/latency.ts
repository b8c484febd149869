// Latency of one `/bin/true`: `await sandbox.run()` against `child_process.spawn` awaited to exit,
// interleaved in one process (each iteration runs every variant once, in a rotating order, so load
// spikes hit all of them alike). Targets 1 and 2 of bench/README.md.
import { Sandbox } from '../lib/index.js';
import {
  BWRAP_TRUE,
  haveBwrap,
  isMain,
  ms,
  note,
  nowMs,
  percentile,
  ratio,
  row,
  runAlone,
  spawnToExit,
  type BenchOptions,
  type Row,
} from './common.js';

export const LIMITS = { cpuQuota: 1, memory: '256m', pids: 64 } as const;

interface Variant {
  name: string;
  run: () => Promise<unknown>;
  samples: number[];
}

export async function latency(o: BenchOptions): Promise<Row[]> {
  const plain = new Sandbox();
  const limited = new Sandbox(LIMITS);
  const hostNet = new Sandbox({ network: 'host' });
  // Warm sandboxes (the pool option): built once, reset between runs.
  const warm = new Sandbox({ pool: 1 });
  const warmLimited = new Sandbox({ ...LIMITS, pool: 1 });
  await Promise.all([warm.warm(), warmLimited.warm()]);
  const bwrap = await haveBwrap();
  const variants: Variant[] = [
    { name: 'spawn', run: () => spawnToExit(['/bin/true']), samples: [] },
    { name: 'sandbox', run: () => plain.run(['/bin/true']), samples: [] },
    { name: 'limits', run: () => limited.run(['/bin/true']), samples: [] },
    // Diagnostic: the same sandbox without a network namespace of its own.
    { name: 'hostnet', run: () => hostNet.run(['/bin/true']), samples: [] },
    { name: 'warm', run: () => warm.run(['/bin/true']), samples: [] },
    { name: 'warm-limits', run: () => warmLimited.run(['/bin/true']), samples: [] },
  ];
  if (bwrap) variants.push({ name: 'bwrap', run: () => spawnToExit(BWRAP_TRUE), samples: [] });

  const warmup = 20;
  const maxIter = 1000;
  const minIter = 100;
  const deadline = nowMs() + o.budgetS * 1000;
  let iter = 0;
  for (; iter < warmup + maxIter; iter++) {
    if (iter >= warmup + minIter && nowMs() > deadline) break;
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(iter + k) % variants.length]!;
      const t0 = nowMs();
      await v.run();
      if (iter >= warmup) v.samples.push(nowMs() - t0);
    }
  }
  note(`latency: ${iter - warmup} interleaved iterations after ${warmup} warm-up`);
  const get = (name: string) => variants.find((v) => v.name === name)?.samples ?? [];
  const p = (name: string, q: number) => percentile(get(name), q);
  const spawn50 = p('spawn', 50);
  const n = get('spawn').length;
  const rows: Row[] = [
    row(`run(/bin/true) p50, defaults (n=${n})`, ms(p('sandbox', 50)), `spawn ${ms(spawn50)}`, ratio(p('sandbox', 50), spawn50), '≤ 1.00×'),
    row('run(/bin/true) p90, defaults', ms(p('sandbox', 90)), `spawn ${ms(p('spawn', 90))}`, ratio(p('sandbox', 90), p('spawn', 90)), ''),
    row(
      'run(/bin/true) p99, defaults',
      ms(p('sandbox', 99)),
      `own p50 ${ms(p('sandbox', 50))}`,
      ratio(p('sandbox', 99), p('sandbox', 50)),
      '≤ 3.00×',
    ),
    row(
      'run(/bin/true) p50, limits cpu 1/mem 256m/pids 64',
      ms(p('limits', 50)),
      `spawn ${ms(spawn50)}`,
      ratio(p('limits', 50), spawn50),
      '≤ 1.30×',
    ),
    row('run(/bin/true) p90, limits', ms(p('limits', 90)), `spawn ${ms(p('spawn', 90))}`, ratio(p('limits', 90), p('spawn', 90)), ''),
    row(
      'run(/bin/true) p99, limits',
      ms(p('limits', 99)),
      `own p50 ${ms(p('limits', 50))}`,
      ratio(p('limits', 99), p('limits', 50)),
      '≤ 3.00×',
    ),
    row('run(/bin/true) p50, warm sandbox (pool: 1)', ms(p('warm', 50)), `spawn ${ms(spawn50)}`, ratio(p('warm', 50), spawn50), '≤ 1.00×'),
    row(
      'run(/bin/true) p99, warm sandbox',
      ms(p('warm', 99)),
      `own p50 ${ms(p('warm', 50))}`,
      ratio(p('warm', 99), p('warm', 50)),
      '≤ 3.00×',
    ),
    row(
      'run(/bin/true) p50, warm sandbox with limits',
      ms(p('warm-limits', 50)),
      `spawn ${ms(spawn50)}`,
      ratio(p('warm-limits', 50), spawn50),
      '≤ 1.30×',
    ),
    row(
      'run(/bin/true) p99, warm sandbox with limits',
      ms(p('warm-limits', 99)),
      `own p50 ${ms(p('warm-limits', 50))}`,
      ratio(p('warm-limits', 99), p('warm-limits', 50)),
      '≤ 3.00×',
    ),
    row('spawn(/bin/true) p99 (baseline tail)', ms(p('spawn', 99)), `own p50 ${ms(spawn50)}`, ratio(p('spawn', 99), spawn50), ''),
    row(
      "diag: run(/bin/true) p50, network 'host'",
      ms(p('hostnet', 50)),
      `defaults ${ms(p('sandbox', 50))}`,
      ratio(p('hostnet', 50), p('sandbox', 50)),
      '',
    ),
    row(
      "diag: run(/bin/true) p99, network 'host'",
      ms(p('hostnet', 99)),
      `own p50 ${ms(p('hostnet', 50))}`,
      ratio(p('hostnet', 99), p('hostnet', 50)),
      '',
    ),
  ];
  await Promise.all([warm.close(), warmLimited.close()]);
  if (bwrap) {
    rows.push(row('bwrap /bin/true from Node p50', ms(p('bwrap', 50)), `spawn ${ms(spawn50)}`, ratio(p('bwrap', 50), spawn50), ''));
    rows.push(
      row(
        'run(/bin/true) p50 vs bwrap p50',
        ms(p('sandbox', 50)),
        `bwrap ${ms(p('bwrap', 50))}`,
        ratio(p('sandbox', 50), p('bwrap', 50)),
        '',
      ),
    );
  } else {
    rows.push(row('bwrap /bin/true from Node p50', 'missing', '', '', ''));
  }
  return rows;
}

if (isMain(import.meta.url)) await runAlone('latency', latency, Number(process.env.BENCH_BUDGET_S ?? 40));
