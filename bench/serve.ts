// `sandbox serve`'s cost: a go-judge `/run` of /bin/cat with a small input, sent over HTTP with
// node:http (keep-alive; fetch in a diagnostic row) to a server in this process, beside the same request through runJob() (no
// HTTP; the client on a thread of its own) and beside a direct warm Sandbox.run() of the same command with the same limits: the
// differences are the HTTP layer's cost and the job layer's (its /w, copy-out, JSON). With 1 and
// 2 concurrent clients, in rounds that rotate the variants so load spikes hit all alike. A diagnostic
// row gives the server's own time per /run (from its log lines), without the client's.
// Issue 19's goal: the server adds ≤ 0.3 ms at p50 over a direct warm run.
import { Worker } from 'node:worker_threads';
import { Sandbox } from '../lib/index.js';
import { JobRunner } from '../lib/job/run-job.js';
import { JudgeServer } from '../lib/serve/server.js';
import { isMain, ms, note, nowMs, percentile, perS, ratio, row, runAlone, type BenchOptions, type Row } from './common.js';

const INPUT = 'hello judge\n';
const LIMITS = { memoryLimit: 256 << 20, procLimit: 64, cpuLimit: 1e9, clockLimit: 2e9 };
const REQUEST = {
  cmd: [
    {
      args: ['/bin/cat'],
      env: ['PATH=/usr/bin:/bin'],
      files: [{ content: INPUT }, { name: 'stdout', max: 10240 }, { name: 'stderr', max: 10240 }],
      ...LIMITS,
      copyOut: ['stdout', 'stderr'],
    },
  ],
};
const BODY = JSON.stringify(REQUEST);

interface Variant {
  name: string;
  run: () => Promise<void>;
  /** Runs a whole phase itself (the HTTP client's thread). */
  phase?: (callers: number, seconds: number) => Promise<{ samples: number[]; seconds: number }>;
  /** The server's own time of each of its requests (ms). */
  served?: number[];
  samples: number[];
  done: number;
  seconds: number;
}

/** `callers` loops of `v.run` for `seconds`, latencies recorded. */
async function phase(v: Variant, callers: number, seconds: number): Promise<void> {
  if (v.phase !== undefined) {
    const got = await v.phase(callers, seconds);
    v.samples.push(...got.samples);
    v.done += got.samples.length;
    v.seconds += got.seconds;
    return;
  }
  const start = nowMs();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (nowMs() < end) {
        const t0 = nowMs();
        await v.run();
        v.samples.push(nowMs() - t0);
        v.done++;
      }
    }),
  );
  v.seconds += (nowMs() - start) / 1000;
}

export async function serveBench(o: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const callers of [1, 2]) {
    const runner = new JobRunner({ parallelism: callers });
    // The server's own time per /run (request received → response written), from its log lines:
    // the HTTP layer's cost without the client's, which shares this machine's CPUs.
    let served: number[] | null = null;
    const log = (line: string) => served?.push((JSON.parse(line) as { ms: number }).ms);
    const server = new JudgeServer({ runner, http: '127.0.0.1:0', log });
    const url = `http://${await server.listen()}/run`;
    const direct = new Sandbox({ pool: callers, memory: LIMITS.memoryLimit, pids: LIMITS.procLimit, cwd: '/tmp' });
    await direct.warm();
    const client = new Worker(new URL('./serve-client.js', import.meta.url));
    const check = (out: string) => {
      if (out !== INPUT) throw new Error(`unexpected output ${JSON.stringify(out)}`);
    };
    const variants: Variant[] = [
      {
        name: 'direct',
        run: async () => check((await direct.run(['/bin/cat'], { stdin: INPUT, timeLimit: 1, wallTimeLimit: 2 })).stdout!.toString()),
        samples: [],
        done: 0,
        seconds: 0,
      },
      { name: 'runJob', run: async () => check((await runner.run(REQUEST))[0]!.files!.stdout!), samples: [], done: 0, seconds: 0 },
      ...(['http', 'fetch'] as const).map(
        (kind): Variant => ({
          name: kind,
          run: async () => {
            const res = await fetch(url, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } });
            check(((await res.json()) as { files: { stdout: string } }[])[0]!.files.stdout);
          },
          phase: (callers, seconds) =>
            new Promise((resolve, reject) => {
              client.once('message', resolve);
              client.once('error', reject);
              client.postMessage({ url, body: BODY, expect: INPUT, callers, seconds, client: kind });
            }),
          served: [],
          samples: [],
          done: 0,
          seconds: 0,
        }),
      ),
    ];
    // Warm-up: every variant's sandboxes built, the JIT warm.
    for (const v of variants) for (let i = 0; i < 30; i++) await v.run();
    const rounds = 4;
    const slice = Math.max(1, o.budgetS / 2 / rounds / variants.length);
    for (let r = 0; r < rounds; r++)
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(r + k) % variants.length]!;
        served = v.served ?? null;
        await phase(v, callers, slice);
        served = null;
      }
    const [d, j, h, f] = variants as [Variant, Variant, Variant, Variant];
    const p = (v: Variant, q: number) => percentile(v.samples, q);
    note(`serve: ${callers} client(s): ${d.done} direct, ${j.done} runJob, ${h.done} node:http, ${f.done} fetch runs`);
    const tag = `${callers} client${callers > 1 ? 's' : ''}`;
    rows.push(
      row(
        `/run of /bin/cat, ${tag}: requests/s`,
        perS(h.done / h.seconds),
        `direct run() ${perS(d.done / d.seconds)}`,
        ratio(h.done / h.seconds, d.done / d.seconds),
        '',
      ),
      row(
        `/run of /bin/cat, ${tag}: p50`,
        ms(p(h, 50)),
        `direct run() ${ms(p(d, 50))}`,
        `+${ms(p(h, 50) - p(d, 50))}`,
        callers === 1 ? '≤ +0.30 ms' : '',
      ),
      row(`/run of /bin/cat, ${tag}: p99`, ms(p(h, 99)), `direct run() ${ms(p(d, 99))}`, ratio(p(h, 99), p(d, 99)), ''),
      row(
        `diag: /run, ${tag}: the server's own time (received → answered), p50`,
        ms(percentile(h.served!, 50)),
        `runJob() ${ms(p(j, 50))}`,
        `+${ms(percentile(h.served!, 50) - p(j, 50))}`,
        '',
      ),
      row(
        `diag: /run with fetch (undici) as the client, ${tag}: p50`,
        ms(p(f, 50)),
        `node:http ${ms(p(h, 50))}`,
        ratio(p(f, 50), p(h, 50)),
        '',
      ),
      row(
        `diag: /run with fetch, ${tag}: the server's own time, p50`,
        ms(percentile(f.served!, 50)),
        `node:http's ${ms(percentile(h.served!, 50))}`,
        ratio(percentile(f.served!, 50), percentile(h.served!, 50)),
        '',
      ),
      row(
        `runJob() of the same, ${tag}: requests/s`,
        perS(j.done / j.seconds),
        `direct run() ${perS(d.done / d.seconds)}`,
        ratio(j.done / j.seconds, d.done / d.seconds),
        '',
      ),
      row(`runJob() of the same, ${tag}: p50`, ms(p(j, 50)), `direct run() ${ms(p(d, 50))}`, `+${ms(p(j, 50) - p(d, 50))}`, ''),
      row(`runJob() of the same, ${tag}: p99`, ms(p(j, 99)), `direct run() ${ms(p(d, 99))}`, ratio(p(j, 99), p(d, 99)), ''),
    );
    await client.terminate();
    await server.close();
    await direct.close();
  }
  return rows;
}

if (isMain(import.meta.url)) await runAlone('serve', serveBench, Number(process.env.BENCH_BUDGET_S ?? 40));
