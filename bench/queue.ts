// The queue's own cost per job: jobs/s and end-to-end p50/p99 of a `/bin/true` job and a compile+run
// job through a real redis-server and 1 or 2 `sandbox worker` processes, beside the same requests
// given to a JobRunner in this process (the baseline, measured in the same run). Targets
// (bench/README.md): at most 2 ms added at p50, at least 70% of the direct jobs/s.
//   BENCH_BUDGET_S=120 node dist/bench/queue.js
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobRunner } from '../lib/job/run-job.js';
import type { JobRequest } from '../lib/job/types.js';
import { SandboxQueue } from '../lib/queue/index.js';
import { isMain, ms, note, nowMs, percentile, perS, rate, row, runAlone, type BenchOptions, type Row } from './common.js';
import { startRedis, type TestRedis } from './redis.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '../lib/sandbox-cli.cjs');

const TRUE: JobRequest = { cmd: [{ args: ['/bin/true'] }] };
const SOURCE = '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n';
const COMPILE: JobRequest = {
  cmd: [
    {
      args: ['/usr/bin/gcc', '-O0', '-o', 'prog', 'prog.c'],
      env: ['PATH=/usr/bin:/bin'],
      copyIn: { 'prog.c': { content: SOURCE } },
      copyOutCached: ['prog'],
      cpuLimit: 30e9,
    },
  ],
};
const RUN = (fileId: string): JobRequest => ({
  cmd: [{ args: ['prog'], copyIn: { prog: { fileId } }, files: [null, { name: 'stdout', max: 1024 }, null] }],
});

interface Workload {
  name: string;
  direct: (runner: JobRunner) => Promise<void>;
  queued: (q: SandboxQueue) => Promise<void>;
  /** Share of the budget. */
  share: number;
}

const workloads: Workload[] = [
  {
    name: '/bin/true',
    direct: async (runner) => void (await runner.run(TRUE)),
    queued: async (q) => void (await q.run(TRUE)),
    share: 0.4,
  },
  {
    name: 'compile+run',
    direct: async (runner) => {
      const [c] = await runner.run(COMPILE);
      const id = c!.fileIds!.prog!;
      await runner.run(RUN(id));
      runner.store.remove(id);
    },
    queued: async (q) => void (await q.runSteps([COMPILE, RUN('cached:prog')])),
    share: 0.6,
  },
];

interface Figures {
  p50: number;
  p99: number;
  perS: number;
}

/**
 * Latency from one caller, direct and queued samples interleaved (so load spikes on this shared
 * machine hit both alike), then jobs/s from 16 callers, direct and queued one after the other.
 */
async function compare(direct: () => Promise<void>, queued: () => Promise<void>, seconds: number): Promise<[Figures, Figures]> {
  await direct(); // warm: sandboxes made, gcc in the page cache
  await queued();
  const d: number[] = [];
  const q: number[] = [];
  const end = nowMs() + (seconds / 2) * 1000;
  while (nowMs() < end || d.length < 5) {
    for (const [fn, xs] of [
      [direct, d],
      [queued, q],
    ] as const) {
      const t0 = nowMs();
      await fn();
      xs.push(nowMs() - t0);
    }
  }
  const dr = await rate(direct, 16, seconds / 4);
  const qr = await rate(queued, 16, seconds / 4);
  return [
    { p50: percentile(d, 50), p99: percentile(d, 99), perS: dr.perS },
    { p50: percentile(q, 50), p99: percentile(q, 99), perS: qr.perS },
  ];
}

function startWorker(redis: TestRedis, queue: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'worker', '--redis', redis.url, '--queue', queue, '--quiet'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('"worker.ready"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${err}`)));
  });
}

async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((r) => {
          w.removeAllListeners('exit');
          w.once('exit', () => r());
          w.kill('SIGTERM');
        }),
    ),
  );
}

export async function queueBench(o: BenchOptions): Promise<Row[]> {
  const redis = await startRedis('everysec');
  const rows: Row[] = [];
  try {
    for (const w of workloads) {
      const seconds = (o.budgetS * w.share) / 2;
      const runner = new JobRunner();
      try {
        for (const processes of [1, 2]) {
          note(`${w.name}: direct and through ${processes} worker process(es)`);
          const name = `bench-${processes}-${w.name.replace(/\W/g, '')}`;
          const workers = await Promise.all(Array.from({ length: processes }, () => startWorker(redis, name)));
          const q = new SandboxQueue({ connection: redis.url, name });
          try {
            const [d, f] = await compare(
              () => w.direct(runner),
              () => w.queued(q),
              seconds,
            );
            const added = f.p50 - d.p50;
            const label = `${w.name}, ${processes} worker process${processes > 1 ? 'es' : ''}`;
            rows.push(
              row(
                `${label}: p50 / p99 queued (baseline: direct)`,
                `${ms(f.p50)} / ${ms(f.p99)}`,
                `${ms(d.p50)} / ${ms(d.p99)}`,
                `${added >= 0 ? '+' : ''}${ms(added)}`,
                '≤ +2 ms at p50',
              ),
            );
            rows.push(
              row(
                `${label}: jobs/s queued, 16 callers (baseline: direct)`,
                perS(f.perS),
                perS(d.perS),
                `${((f.perS / d.perS) * 100).toFixed(0)}%`,
                '≥ 70%',
              ),
            );
          } finally {
            await q.close();
            await stopWorkers(workers);
          }
        }
      } finally {
        await runner.close();
      }
    }
  } finally {
    await redis.stop();
  }
  return rows;
}

if (isMain(import.meta.url)) await runAlone('queue', queueBench, Number(process.env.BENCH_BUDGET_S ?? 120));
