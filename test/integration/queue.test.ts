// SandboxQueue and SandboxWorker in this process against a real redis-server: results, steps that
// pass a compiled program on, blobs, caps, a poison job, priorities, deadlines, /metrics' text.
// The fleet (worker processes, kill -9, Redis restarts, the flood) is in queue-fleet.test.ts.
import anyTest, { type TestFn } from 'ava';
import { Queue } from 'bullmq';
import { SandboxError } from '../../lib/errors.js';
import { JobRunner } from '../../lib/job/run-job.js';
import { QueueJobError, SandboxQueue, SandboxWorker, type SandboxWorkerOptions } from '../../lib/queue/index.js';
import { processesWithArgv, uniqueSeconds, waitFor } from '../helpers/host.js';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.js';
import { cmd } from '../helpers/serve.js';

const test = anyTest as TestFn<{ redis: TestRedis }>;
const serial = redisMissing === null ? test.serial : test.skip;
const it = redisMissing === null ? test : test.skip;
if (redisMissing !== null) test.skip(`queue tests: ${redisMissing}`, () => {});

let n = 0;
/** A queue of its own per test, with a worker on it. */
async function pair(
  t: { context: { redis: TestRedis }; teardown: (f: () => Promise<void>) => void },
  worker: Partial<SandboxWorkerOptions> | null = {},
) {
  const name = `q${process.pid}-${++n}`;
  const q = new SandboxQueue({ connection: t.context.redis.url, name, sweepInterval: 500 });
  const w = worker === null ? null : new SandboxWorker({ connection: t.context.redis.url, name, concurrency: 2, ...worker });
  await w?.start();
  t.teardown(async () => {
    await q.close();
    await w?.close();
  });
  return { q, w, name };
}

test.before(async (t) => {
  if (redisMissing === null) t.context.redis = await startRedis();
});
test.after.always(async (t) => {
  await t.context.redis?.stop();
});

it('a /run request runs on a worker and comes back as its /run response, attempt 1', async (t) => {
  const { q, w } = await pair(t);
  const r = await q.run({ cmd: [cmd(['/bin/echo', 'hi'])] } as any);
  t.is(r.results.length, 1);
  t.is(r.results[0]!.status, 'Accepted');
  t.is(r.results[0]!.files!.stdout, 'hi\n');
  t.is(r.attempt, 1);
  t.is(r.worker, w!.id);
  t.true(r.waitMs >= 0 && r.runMs >= 0);
  const text = await w!.metricsText();
  t.regex(text, /^sandbox_worker_jobs_total\{outcome="completed"\} 1$/m);
  t.regex(text, /^sandbox_worker_results_total\{status="Accepted"\} 1$/m);
  t.regex(text, /^sandbox_worker_queue_wait_seconds_count 1$/m);
  t.regex(text, /^sandbox_worker_run_seconds_count 1$/m);
  t.regex(text, /^sandbox_queue_jobs\{state="wait"\} 0$/m);
});

it('a compile step\'s copyOutCached file runs in the next step as "cached:NAME"; the job\'s files are dropped after it', async (t) => {
  const runner = new JobRunner({ parallelism: 2 });
  t.teardown(() => runner.close());
  const { q } = await pair(t, { runner });
  const src = '#include <cstdio>\nint main(){int a,b;std::scanf("%d %d",&a,&b);std::printf("%d\\n",a+b);}\n';
  const r = await q.runSteps([
    {
      cmd: [
        {
          ...cmd(['/usr/bin/g++', '-O0', '-o', 'sum', 'sum.cc']),
          copyIn: { 'sum.cc': { content: src } },
          copyOutCached: ['sum'],
          cpuLimit: 30e9,
        },
      ],
    },
    { cmd: [{ ...cmd(['sum'], {}, '2 40'), copyIn: { sum: { fileId: 'cached:sum' } } }] },
    { cmd: [{ ...cmd(['sum'], {}, '1 1'), copyIn: { sum: { fileId: 'cached:sum' } } }] },
  ] as any);
  t.is(r.results[0]![0]!.status, 'Accepted', JSON.stringify(r.results[0]));
  t.deepEqual(r.results[0]![0]!.fileIds, { sum: 'cached:sum' });
  t.is(r.results[1]![0]!.files!.stdout, '42\n');
  t.is(r.results[2]![0]!.files!.stdout, '2\n');
  t.is(runner.store.count, 0);
  // A name no earlier step cached is go-judge's File Error, not a failed job.
  const missing = await q.run({ cmd: [{ ...cmd(['x']), copyIn: { x: { fileId: 'cached:nothing' } } }] } as any);
  t.is(missing.results[0]!.status, 'File Error');
});

it('large data by blob: put once, named by sha256 id in any job; the job itself stays small', async (t) => {
  const { q, name } = await pair(t);
  const data = Buffer.alloc(3 * 1024 * 1024, 'abcdefgh');
  const id = await q.putFile(data);
  t.regex(id, /^sha256:[0-9a-f]{64}$/);
  t.is(await q.putFile(data), id);
  const jobs = await Promise.all(
    [0, 1].map(() =>
      q.run({
        cmd: [{ ...cmd(['/usr/bin/wc', '-c']), files: [{ fileId: id }, { name: 'stdout', max: 100 }, { name: 'stderr', max: 100 }] }],
      } as any),
    ),
  );
  for (const r of jobs) t.is(r.results[0]!.files!.stdout.trim(), String(data.length));
  const raw = new Queue(name, { connection: { url: t.context.redis.url } });
  t.teardown(() => raw.close());
  const job = await raw.getJob(jobs[0]!.jobId);
  t.true(JSON.stringify(job!.data).length < 2000);
});

it("inline contents past the cap: the client refuses the job with one clear error; results past the worker's cap fail the job at once", async (t) => {
  const { q } = await pair(t, { maxResultBytes: 64 * 1024 });
  const big = 'x'.repeat(5 * 1024 * 1024);
  const e = await t.throwsAsync(q.add({ cmd: [cmd(['/bin/true'], {}, big)] } as any), { instanceOf: SandboxError });
  t.is(e!.stage, 'job-size');
  t.regex(e!.message, /over the cap of 4194304 .* putFile/);
  const f = await t.throwsAsync(q.run({ cmd: [cmd(['/usr/bin/head', '-c', '300000', '/dev/zero'])] } as any), {
    instanceOf: QueueJobError,
  });
  t.is(f!.stage, 'result-size');
  t.is(f!.attemptsMade, 1);
});

it('a poison job ends failed with its error after its attempts and holds up no other job', async (t) => {
  const { q } = await pair(t, { concurrency: 1 });
  const poison = q.run(
    { cmd: [{ ...cmd(['/bin/cat']), files: [{ fileId: `sha256:${'0'.repeat(64)}` }, { name: 'stdout', max: 10 }, null] }] } as any,
    { attempts: 2 },
  );
  const good = Array.from({ length: 5 }, (_, i) => q.run({ cmd: [cmd(['/bin/echo', String(i)])] } as any));
  const e = await t.throwsAsync(poison, { instanceOf: QueueJobError });
  t.is(e!.stage, 'blob');
  t.is(e!.attemptsMade, 2);
  t.regex(e!.message, /not in Redis/);
  t.deepEqual(
    (await Promise.all(good)).map((r) => r.results[0]!.files!.stdout),
    ['0\n', '1\n', '2\n', '3\n', '4\n'],
  );
});

it('a bad request is refused by add(); one that reaches a worker anyway fails at once, unretried', async (t) => {
  const { q, name } = await pair(t);
  const e = await t.throwsAsync(q.add({ cmd: [] } as any), { instanceOf: SandboxError });
  t.is(e!.stage, 'request');
  const raw = new Queue(name, { connection: { url: t.context.redis.url } });
  t.teardown(() => raw.close());
  const job = await raw.add('run', { steps: [{ cmd: [{ args: 'not a list' }] }], deadline: null }, { attempts: 3 });
  const f = await t.throwsAsync(q.result(job.id!), { instanceOf: QueueJobError });
  t.is(f!.stage, 'request');
  t.is(f!.attemptsMade, 1);
  t.regex(f!.message, /args/);
});

serial('priorities: contest jobs queued after rejudges still run before them', async (t) => {
  const { q, name } = await pair(t, null);
  const rejudges = await Promise.all(Array.from({ length: 6 }, () => q.add({ cmd: [cmd(['/bin/true'])] } as any, { priority: 10 })));
  const contest = await Promise.all(Array.from({ length: 3 }, () => q.add({ cmd: [cmd(['/bin/true'])] } as any, { priority: 1 })));
  const w = new SandboxWorker({ connection: t.context.redis.url, name, concurrency: 1 });
  t.teardown(() => w.close());
  await w.start();
  const done = await Promise.all([...contest, ...rejudges].map((id) => q.result(id)));
  const raw = new Queue(name, { connection: { url: t.context.redis.url } });
  t.teardown(() => raw.close());
  const started = async (ids: string[]) => Promise.all(ids.map(async (id) => (await raw.getJob(id))!.processedOn!));
  const c = await started(contest);
  const r = await started(rejudges);
  t.is(done.length, 9);
  t.true(Math.max(...c) <= Math.min(...r), `contest ${c} rejudges ${r}`);
});

it('timeout: a job still running at its deadline is killed, fails as expired, leaves no process', async (t) => {
  const { q } = await pair(t);
  const secs = uniqueSeconds(30);
  const e = await t.throwsAsync(q.run({ cmd: [{ ...cmd(['/bin/sleep', secs]), clockLimit: 60e9 }] } as any, { timeout: 1500 }), {
    instanceOf: QueueJobError,
  });
  t.is(e!.stage, 'expired');
  t.true(await waitFor(() => processesWithArgv(['/bin/sleep', secs]).length === 0, 5000));
});
