// A fleet on one machine: `sandbox worker` processes (the built CLI) sharing one queue in a real
// redis-server. A worker killed with SIGKILL mid-job leaves no sandbox and its job runs again
// elsewhere; SIGTERM drains; Redis killed and restarted mid-run loses nothing; a flood of 2,000
// jobs comes back one result per job.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import anyTest, { type TestFn } from 'ava';
import { SandboxQueue } from '../../lib/queue/index.js';
import { parentOf, processesWithArgv, uniqueSeconds, waitFor } from '../helpers/host.js';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.js';
import { cmd } from '../helpers/serve.js';

const test = anyTest as TestFn<{ redis: TestRedis }>;
const serial = redisMissing === null ? test.serial : test.skip;
if (redisMissing !== null) test.skip(`queue fleet tests: ${redisMissing}`, () => {});

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'dist/lib/sandbox-cli.cjs');

interface WorkerProc {
  child: ChildProcess;
  pid: number;
  id: string;
  events: () => Record<string, any>[];
  exited: Promise<number | null>;
}

async function startWorker(redis: TestRedis, queue: string, args: string[] = []): Promise<WorkerProc> {
  const child = spawn(process.execPath, [cli, 'worker', '--redis', redis.url, '--queue', queue, ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const events = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  const ok = await waitFor(() => events().some((e) => e.event === 'worker.ready') || child.exitCode !== null, 60_000);
  if (!ok || child.exitCode !== null) throw new Error(`worker did not start: ${err}`);
  return { child, pid: child.pid!, id: `${hostname()}:${child.pid}`, events, exited };
}

/** SIGTERM (a drained worker leaves nothing behind), SIGKILL for one still there after 30 s. */
function stopAll(workers: WorkerProc[]): Promise<unknown> {
  return Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      w.child.kill('SIGTERM');
      const timer = setTimeout(() => w.child.kill('SIGKILL'), 30_000);
      await w.exited;
      clearTimeout(timer);
    }),
  );
}

function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p: number | null = pid; p !== null && p > 1; p = parentOf(p)) if (p === ancestor) return true;
  return false;
}

let n = 0;
function queueName(): string {
  return `fleet${process.pid}-${++n}`;
}

test.before(async (t) => {
  if (redisMissing === null) t.context.redis = await startRedis();
});
test.after.always(async (t) => {
  await t.context.redis?.stop();
});

serial('a bad option, or an --image not in the store, is exit 125 with one line', async (t) => {
  const cases = [['--bogus'], ['--redis', 'nowhere'], ['--redis', t.context.redis.url, '--image', 'nosuch.invalid/never:1']];
  for (const args of cases) {
    const child = spawn(process.execPath, [cli, 'worker', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    t.is(code, 125, `${args.join(' ')}: ${err}`);
    t.is(err.trim().split('\n').length, 1, err);
  }
});

serial('kill -9 a worker mid-job: its sandbox dies with it, another worker runs the job again (attempt 2)', async (t) => {
  const name = queueName();
  const fast = ['--concurrency', '1', '--lock-duration', '4', '--stalled-interval', '1'];
  const workers = [await startWorker(t.context.redis, name, fast), await startWorker(t.context.redis, name, fast)];
  t.teardown(() => stopAll(workers));
  const q = new SandboxQueue({ connection: t.context.redis.url, name, sweepInterval: 500 });
  t.teardown(() => q.close());
  const secs = uniqueSeconds(3);
  const argv = ['/bin/sleep', secs];
  const pending = q.run({ cmd: [{ ...cmd(argv), clockLimit: 60e9 }] } as any);
  t.true(await waitFor(() => workers.some((w) => w.events().some((e) => e.event === 'job.started')), 30_000));
  const victim = workers.find((w) => w.events().some((e) => e.event === 'job.started'))!;
  const survivor = workers.find((w) => w !== victim)!;
  t.true(await waitFor(() => processesWithArgv(argv).length > 0, 10_000), 'the sandboxed sleep runs');
  const victimDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith(`sandbox-jobs-${victim.pid}-`));
  t.is(victimDirs().length, 1);
  victim.child.kill('SIGKILL');
  await victim.exited;
  // Nothing of the victim's run is left: any sleep with this argv is the survivor's retry.
  t.true(
    await waitFor(() => processesWithArgv(argv).every((p) => descendsFrom(p, survivor.pid)), 3000),
    'the sandbox died with its worker',
  );
  const r = await pending;
  t.is(r.results[0]!.status, 'Accepted');
  t.is(r.attempt, 2);
  t.is(r.worker, survivor.id);
  // The next worker to start on the machine sweeps the dead one's work directory.
  const next = await startWorker(t.context.redis, name, fast);
  workers.push(next);
  t.is(victimDirs().length, 0);
  // As root each slot's /w is a tmpfs on the host: the sweep unmounts the dead worker's too.
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(`/sandbox-jobs-${victim.pid}-`));
});

serial('SIGTERM drains: the running job finishes and completes, the queued ones are left for others', async (t) => {
  const name = queueName();
  const w = await startWorker(t.context.redis, name, ['--concurrency', '1']);
  const workers = [w];
  t.teardown(() => stopAll(workers));
  const q = new SandboxQueue({ connection: t.context.redis.url, name, sweepInterval: 500 });
  t.teardown(() => q.close());
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await q.add({ cmd: [cmd(['/bin/sleep', '1'])] } as any));
  t.true(await waitFor(() => w.events().some((e) => e.event === 'job.started'), 30_000));
  w.child.kill('SIGTERM');
  t.is(await w.exited, 0);
  const first = await q.result(ids[0]!);
  t.is(first.results[0]![0]!.status, 'Accepted');
  t.is(first.attempt, 1);
  const counts = await q.queue.getJobCounts('wait', 'active', 'completed');
  t.deepEqual(counts, { wait: 2, active: 0, completed: 1 });
  t.true(w.events().some((e) => e.event === 'worker.closed'));
  workers.push(await startWorker(t.context.redis, name, ['--concurrency', '2']));
  const rest = await Promise.all(ids.slice(1).map((id) => q.result(id)));
  t.deepEqual(
    rest.map((r) => r.attempt),
    [1, 1],
  );
});

serial('Redis killed and restarted mid-run: no job and no result lost', async (t) => {
  const name = queueName();
  const workers = [
    await startWorker(t.context.redis, name, ['--concurrency', '2']),
    await startWorker(t.context.redis, name, ['--concurrency', '2']),
  ];
  t.teardown(() => stopAll(workers));
  const q = new SandboxQueue({ connection: t.context.redis.url, name, sweepInterval: 500 });
  t.teardown(() => q.close());
  const jobs = 30;
  const pending = Array.from({ length: jobs }, (_, i) => q.run({ cmd: [cmd(['/bin/sh', '-c', `sleep 0.2; echo ${i}`])] } as any));
  const completed = () => workers.reduce((s, w) => s + w.events().filter((e) => e.event === 'job.completed').length, 0);
  t.true(await waitFor(() => completed() >= 4, 60_000));
  await t.context.redis.restart({ downMs: 1000 });
  const results = await Promise.all(pending);
  t.deepEqual(
    results.map((r) => r.results[0]!.files!.stdout),
    Array.from({ length: jobs }, (_, i) => `${i}\n`),
  );
  t.is(new Set(results.map((r) => r.jobId)).size, jobs);
  t.is((await q.queue.getJobCounts('completed')).completed, jobs);
});

serial('a flood of 2,000 short jobs on two workers: every result arrives, once', async (t) => {
  const name = queueName();
  const args = ['--concurrency', '2', '--metrics', '127.0.0.1:0', '--quiet'];
  const workers = [await startWorker(t.context.redis, name, args), await startWorker(t.context.redis, name, args)];
  t.teardown(() => stopAll(workers));
  const q = new SandboxQueue({ connection: t.context.redis.url, name });
  t.teardown(() => q.close());
  const jobs = 2000;
  const results = await Promise.all(Array.from({ length: jobs }, () => q.run({ cmd: [{ args: ['/bin/true'] }] })));
  t.is(results.length, jobs);
  t.is(new Set(results.map((r) => r.jobId)).size, jobs);
  t.true(results.every((r) => r.results[0]!.status === 'Accepted' && r.attempt === 1));
  t.is(q.awaited, 0);
  // Each job ran once: the workers' own counts add up to the flood.
  let ran = 0;
  for (const w of workers) {
    const address = w.events().find((e) => e.event === 'metrics.listening')!.address as string;
    const text = await (await fetch(`http://${address}/metrics`)).text();
    ran += Number(/^sandbox_worker_jobs_total\{outcome="completed"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    t.regex(text, /^sandbox_queue_jobs\{state="wait"\} 0$/m);
  }
  t.is(ran, jobs);
  t.true(
    workers.every((w) => w.events().filter((e) => e.event === 'job.completed').length === 0),
    '--quiet drops per-job lines',
  );
});
