// Latency of one `/bin/true`: `await sandbox.run()` against `child_process.spawn` awaited to exit,
// interleaved in one process (each iteration runs every variant once, in a rotating order, so load
// spikes hit all of them alike). Targets 1 and 2 of bench/README.md.
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
  // The default keeps the sandbox a run used warm for the next (idleTimeout); idleTimeout 0 builds one per run.
  const plain = new Sandbox();
  const fresh = new Sandbox({ idleTimeout: 0 });
  const limited = new Sandbox(LIMITS);
  const freshLimited = new Sandbox({ ...LIMITS, idleTimeout: 0 });
  const hostNet = new Sandbox({ network: 'host', idleTimeout: 0 });
  // Warm sandboxes (the pool option): built once, reset between runs.
  const warm = new Sandbox({ pool: 1 });
  const warmLimited = new Sandbox({ ...LIMITS, pool: 1 });
  await Promise.all([warm.warm(), warmLimited.warm()]);
  const bwrap = await haveBwrap();
  const variants: Variant[] = [
    { name: 'spawn', run: () => spawnToExit(['/bin/true']), samples: [] },
    { name: 'sandbox', run: () => plain.run(['/bin/true']), samples: [] },
    { name: 'limits', run: () => limited.run(['/bin/true']), samples: [] },
    { name: 'fresh', run: () => fresh.run(['/bin/true']), samples: [] },
    { name: 'fresh-limits', run: () => freshLimited.run(['/bin/true']), samples: [] },
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
  // A variant's p50 beside another's, and its p99 beside its own p50 (the tail).
  const vs = (figure: string, name: string, q: number, base: string, target = '') =>
    compare(figure, ms, p(name, q), base === 'sandbox' ? 'defaults' : base, p(base, q), target);
  const tail = (figure: string, name: string, target = '') => compare(figure, ms, p(name, 99), 'own p50', p(name, 50), target);
  const rows: Row[] = [
    vs(`run(/bin/true) p50, defaults (n=${get('spawn').length})`, 'sandbox', 50, 'spawn', '≤ 1.00×'),
    vs('run(/bin/true) p90, defaults', 'sandbox', 90, 'spawn'),
    tail('run(/bin/true) p99, defaults', 'sandbox', '≤ 3.00×'),
    vs('run(/bin/true) p50, limits cpu 1/mem 256m/pids 64', 'limits', 50, 'spawn', '≤ 1.30×'),
    vs('run(/bin/true) p90, limits', 'limits', 90, 'spawn'),
    tail('run(/bin/true) p99, limits', 'limits', '≤ 3.00×'),
    vs('run(/bin/true) p50, a sandbox built per run (idleTimeout: 0)', 'fresh', 50, 'spawn'),
    vs('run(/bin/true) p50, built per run, limits', 'fresh-limits', 50, 'spawn'),
    vs('run(/bin/true) p50, warm sandbox (pool: 1)', 'warm', 50, 'spawn', '≤ 1.00×'),
    tail('run(/bin/true) p99, warm sandbox', 'warm', '≤ 3.00×'),
    vs('run(/bin/true) p50, warm sandbox with limits', 'warm-limits', 50, 'spawn', '≤ 1.30×'),
    tail('run(/bin/true) p99, warm sandbox with limits', 'warm-limits', '≤ 3.00×'),
    tail('spawn(/bin/true) p99 (baseline tail)', 'spawn'),
    vs("diag: run(/bin/true) p50, network 'host', built per run", 'hostnet', 50, 'fresh'),
    tail("diag: run(/bin/true) p99, network 'host'", 'hostnet'),
  ];
  await Promise.all([warm.close(), warmLimited.close()]);
  if (bwrap) {
    rows.push(vs('bwrap /bin/true from Node p50', 'bwrap', 50, 'spawn'), vs('run(/bin/true) p50 vs bwrap p50', 'sandbox', 50, 'bwrap'));
  } else {
    rows.push(row('bwrap /bin/true from Node p50', 'missing', '', '', ''));
  }
  return rows;
}

if (isMain(import.meta.url)) await runAlone('latency', latency, Number(process.env.BENCH_BUDGET_S ?? 40));
