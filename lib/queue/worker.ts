// SandboxWorker: a BullMQ Worker whose jobs are go-judge `/run` requests (./types.ts), run through
// the JobRunner (lib/job) that `sandbox serve` uses, completed with their `/run` responses.
//
// Failures, by whether another start can help:
//   - a bad request, a job over the size caps, a job past its deadline: failed at once
//     (UnrecoverableError), never retried;
//   - anything else thrown while setting up (a blob gone, a sandbox that cannot be made): retried
//     with backoff while the job's attempts last, then failed with its error;
//   - the program's fate (nonzero exit, TLE, MLE...) is a result, never a failure.
// A worker that dies mid-job takes its sandboxes with it (they die with their parent:
// PR_SET_PDEATHSIG) and its job's lock runs out; another worker's stalled-job check puts it back.
import { hostname } from 'node:os';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { SandboxError } from '../errors.js';
import { JobRunner } from '../job/run-job.js';
import { parseRequest } from '../job/parse.js';
import type { JobRequest } from '../job/types.js';
import { BlobCache } from './blobs.js';
import { bullConnection, redisClient, type Connection } from './connection.js';
import { encodeFailure } from './failure.js';
import { JobFiles } from './job-files.js';
import {
  DEFAULT_BLOB_CACHE_BYTES,
  DEFAULT_MAX_JOB_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  MAX_STEPS,
} from './limits.js';
import { WorkerMetrics, type JobOutcome } from './metrics.js';
import type { QueueJobData, QueueJobReturn } from './types.js';

export interface SandboxWorkerOptions {
  connection: Connection;
  /** Queue name (default "sandbox"). */
  name?: string;
  /** BullMQ's key prefix (default "bull"). */
  prefix?: string;
  /** Jobs run at once (default: the CPU count). */
  concurrency?: number;
  /** The runner (default: a new one, as parallel as `concurrency`, its work directory swept when its process dies). */
  runner?: JobRunner;
  /** Host directories `src` files may come from (a filesystem every worker mounts); default none. */
  srcPrefix?: string[];
  /** Image for commands that name none. */
  image?: string | null;
  maxJobBytes?: number;
  maxResultBytes?: number;
  blobCacheBytes?: number;
  /** A job's lock lasts this long (ms) and is renewed at half of it; a dead worker's jobs wait it out. */
  lockDuration?: number;
  /** How often (ms) this worker looks for stalled jobs. */
  stalledInterval?: number;
  /** A job may stall this often before it fails (default 1). */
  maxStalledCount?: number;
  /** One structured log entry (default: none). */
  log?: (entry: Record<string, unknown>) => void;
}

export class SandboxWorker {
  readonly name: string;
  readonly prefix: string;
  readonly concurrency: number;
  readonly metrics = new WorkerMetrics();
  readonly id = `${hostname()}:${process.pid}`;
  readonly #runner: JobRunner;
  readonly #ownRunner: boolean;
  readonly #worker: Worker<QueueJobData, QueueJobReturn>;
  readonly #queue: Queue;
  readonly #connection: Connection;
  readonly #image: string | null;
  readonly #maxJobBytes: number;
  readonly #maxResultBytes: number;
  readonly #blobs: BlobCache;
  readonly #log: (entry: Record<string, unknown>) => void;
  #redis: Redis | null = null;
  #active = 0;
  #closing: Promise<void> | null = null;

  constructor(options: SandboxWorkerOptions) {
    this.name = options.name ?? DEFAULT_QUEUE;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.concurrency = options.concurrency ?? Math.max(1, (globalThis.navigator?.hardwareConcurrency as number | undefined) ?? 1);
    this.#connection = options.connection;
    this.#image = options.image ?? null;
    this.#maxJobBytes = options.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES;
    this.#maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    this.#blobs = new BlobCache(options.blobCacheBytes ?? DEFAULT_BLOB_CACHE_BYTES);
    this.#log = options.log ?? (() => {});
    this.#ownRunner = options.runner === undefined;
    if (options.runner !== undefined) this.#runner = options.runner;
    else this.#runner = new JobRunner({ parallelism: this.concurrency, srcPrefix: options.srcPrefix ?? [] });
    const connection = bullConnection(options.connection);
    this.#queue = new Queue(this.name, { connection, prefix: this.prefix });
    this.#queue.on('error', () => {}); // reported through the worker's own 'error'
    this.#worker = new Worker<QueueJobData, QueueJobReturn>(this.name, (job, _token, signal) => this.#process(job, signal), {
      connection,
      prefix: this.prefix,
      concurrency: this.concurrency,
      autorun: false,
      ...(options.lockDuration !== undefined ? { lockDuration: options.lockDuration } : {}),
      ...(options.stalledInterval !== undefined ? { stalledInterval: options.stalledInterval } : {}),
      ...(options.maxStalledCount !== undefined ? { maxStalledCount: options.maxStalledCount } : {}),
    });
    this.#worker.on('error', (e) => this.#log({ level: 'error', event: 'redis', message: e.message }));
    this.#worker.on('stalled', (jobId) => {
      this.metrics.stalled.inc(this.name);
      this.#log({ level: 'warn', event: 'job.stalled', job: jobId });
    });
  }

  /** Starts taking jobs; resolves once connected to Redis. */
  async start(): Promise<void> {
    void this.#worker.run().catch((e: Error) => this.#log({ level: 'error', event: 'worker', message: e.message }));
    await this.#worker.waitUntilReady();
    this.#log({ level: 'info', event: 'worker.ready', queue: this.name, concurrency: this.concurrency, worker: this.id });
  }

  /** Takes no new job, lets the running ones finish and complete, then ends the warm sandboxes. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#log({ level: 'info', event: 'worker.draining', active: this.#active });
      await this.#worker.close();
      if (this.#ownRunner) await this.#runner.close();
      await this.#queue.close();
      this.#redis?.disconnect();
      this.#log({ level: 'info', event: 'worker.closed' });
    })();
    return this.#closing;
  }

  /** The Prometheus text of /metrics, with the queue's depth read now. */
  async metricsText(): Promise<string> {
    const counts = await this.#queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'failed').catch(() => null);
    const stats = await this.#runner.stats();
    return this.metrics.render([
      { name: 'sandbox_worker_active_jobs', help: 'Jobs this worker is running.', samples: [['', this.#active]] },
      { name: 'sandbox_worker_concurrency', help: 'Jobs this worker runs at once.', samples: [['', this.concurrency]] },
      { name: 'sandbox_worker_sandboxes', help: 'Sandboxes this worker keeps (busy or warm).', samples: [['', stats.slots]] },
      ...(counts === null
        ? []
        : [
            {
              name: 'sandbox_queue_jobs',
              help: 'Jobs in the queue by state (wait + prioritized is the backlog to scale on).',
              samples: Object.entries(counts).map(([k, v]) => [`{state="${k}"}`, v] as [string, number]),
            },
          ]),
    ]);
  }

  #redisClient(): Redis {
    if (this.#redis === null) {
      this.#redis = redisClient(this.#connection);
      this.#redis.on('error', () => {}); // commands wait for the reconnection; the worker logs the outage
    }
    return this.#redis;
  }

  async #process(job: Job<QueueJobData, QueueJobReturn>, signal: AbortSignal | undefined): Promise<QueueJobReturn> {
    const started = Date.now();
    const waitMs = Math.max(0, started - job.timestamp);
    this.metrics.wait.observe(waitMs / 1000);
    this.#active++;
    this.#log({ level: 'info', event: 'job.started', job: job.id, attempt: job.attemptsStarted, waitMs });
    let outcome: JobOutcome = 'setup-error';
    try {
      const ret = await this.#run(job, signal, started, waitMs);
      outcome = 'completed';
      this.#log({
        level: 'info',
        event: 'job.completed',
        job: job.id,
        attempt: ret.attempt,
        waitMs,
        runMs: ret.runMs,
        statuses: ret.results.map((r) => r.map((c) => c.status)),
      });
      return ret;
    } catch (e) {
      if (e instanceof UnrecoverableError) outcome = /^\[expired\]/.test(e.message) ? 'expired' : 'rejected';
      const message = e instanceof Error ? e.message : String(e);
      this.#log({ level: 'warn', event: `job.${outcome}`, job: job.id, attempt: job.attemptsStarted, error: message });
      throw e instanceof UnrecoverableError ? e : new Error(encodeFailure(e));
    } finally {
      this.#active--;
      this.metrics.jobs.inc(outcome);
      this.metrics.run.observe((Date.now() - started) / 1000);
    }
  }

  async #run(
    job: Job<QueueJobData, QueueJobReturn>,
    signal: AbortSignal | undefined,
    started: number,
    waitMs: number,
  ): Promise<QueueJobReturn> {
    const steps = this.#steps(job.data);
    const deadline = job.data.deadline;
    if (deadline !== null && started >= deadline)
      throw reject('expired', `the job passed its deadline ${started - deadline} ms before a worker took it`);
    const kill = new AbortController();
    const onAbort = () => kill.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = deadline === null ? null : setTimeout(() => kill.abort(), deadline - started);
    const files = new JobFiles(this.#runner.store, (id) => this.#blobs.get(this.#redisClient(), this.prefix, this.name, id));
    const results = [];
    try {
      for (const step of steps) {
        const res = await this.#runner.run(await files.resolve(step), { signal: kill.signal });
        files.adopt(res);
        for (const r of res) this.metrics.statuses.inc(r.status);
        results.push(res);
      }
    } catch (e) {
      if (kill.signal.aborted && !signal?.aborted)
        throw reject('expired', 'the job passed its deadline while it ran: its sandboxes were killed');
      if (e instanceof SandboxError && e.stage === 'request') throw new UnrecoverableError(encodeFailure(e));
      throw e;
    } finally {
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      files.release();
    }
    const ret: QueueJobReturn = { results, attempt: job.attemptsStarted, worker: this.id, waitMs, runMs: Date.now() - started };
    const size = Buffer.byteLength(JSON.stringify(ret));
    if (size > this.#maxResultBytes) {
      throw reject(
        'result-size',
        `the results are ${size} bytes, over the worker's cap of ${this.#maxResultBytes} (--max-result-size): lower copyOutMax or the collectors' max`,
      );
    }
    return ret;
  }

  /** The job's requests, checked; a job that can never run is failed at once. */
  #steps(data: QueueJobData): JobRequest[] {
    if (
      typeof data !== 'object' ||
      data === null ||
      !Array.isArray(data.steps) ||
      data.steps.length === 0 ||
      data.steps.length > MAX_STEPS
    ) {
      throw reject('job', `Expected { steps: 1 to ${MAX_STEPS} /run requests, deadline } for the job's data`);
    }
    if (data.deadline !== null && typeof data.deadline !== 'number')
      throw reject('job', "Expected epoch milliseconds or null for the job's deadline");
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > this.#maxJobBytes)
      throw reject(
        'job-size',
        `the job is ${size} bytes, over the worker's cap of ${this.#maxJobBytes}: pass large files by blob (putFile)`,
      );
    return data.steps.map((s, i) => {
      let req: JobRequest;
      try {
        req = parseRequest(s);
      } catch (e) {
        throw reject('request', `steps[${i}]: ${(e as Error).message}`);
      }
      if (this.#image !== null) for (const c of req.cmd) c.image ??= this.#image;
      return req;
    });
  }
}

function reject(stage: string, message: string): UnrecoverableError {
  return new UnrecoverableError(`[${stage}] ${message}`);
}
