// SandboxQueue: the producer's side. Adds `/run` requests as BullMQ jobs and waits for their
// results. Results come from the queue's event stream; a sweep of the jobs still awaited reads
// their state from Redis too, so a result whose event was missed (the client connected late, or
// Redis restarted) still arrives, and arrives once.
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { SandboxError } from '../errors.js';
import { parseRequest } from '../job/parse.js';
import type { JobRequest, JobResult } from '../job/types.js';
import { putBlob } from './blobs.js';
import { bullConnection, redisClient, type Connection } from './connection.js';
import { QueueJobError } from './failure.js';
import {
  DEFAULT_ATTEMPTS,
  DEFAULT_BLOB_TTL_S,
  DEFAULT_MAX_JOB_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  KEEP_COMPLETED,
  KEEP_FAILED,
  MAX_STEPS,
} from './limits.js';
import type { QueueAddOptions, QueueJobData, QueueJobReturn, QueueRunResult } from './types.js';

export interface SandboxQueueOptions {
  connection: Connection;
  /** Queue name (default "sandbox"). */
  name?: string;
  /** BullMQ's key prefix (default "bull"). */
  prefix?: string;
  /** Largest job (its JSON) this client adds (default 4 MiB; the workers have a cap of their own). */
  maxJobBytes?: number;
  /** TTL of files put with putFile (seconds, default one day). */
  blobTtl?: number;
  /** How often (ms) awaited jobs are looked up in Redis besides their events (default 2000). */
  sweepInterval?: number;
}

interface Waiter {
  since: number;
  resolve: (r: QueueJobReturn) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

export class SandboxQueue {
  readonly name: string;
  readonly prefix: string;
  readonly #connection: Connection;
  readonly #queue: Queue;
  readonly #maxJobBytes: number;
  readonly #blobTtl: number;
  readonly #sweepMs: number;
  readonly #waiters = new Map<string, Waiter>();
  #events: Promise<QueueEvents> | null = null;
  #redis: Redis | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #sweeping = false;

  constructor(options: SandboxQueueOptions) {
    this.name = options.name ?? DEFAULT_QUEUE;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#connection = options.connection;
    this.#maxJobBytes = options.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES;
    this.#blobTtl = options.blobTtl ?? DEFAULT_BLOB_TTL_S;
    this.#sweepMs = options.sweepInterval ?? 2000;
    this.#queue = new Queue(this.name, { connection: bullConnection(options.connection), prefix: this.prefix });
    this.#queue.on('error', () => {}); // a command in flight reports its own failure
  }

  /** The underlying BullMQ queue (counts, pause, clean...). */
  get queue(): Queue {
    return this.#queue;
  }

  /**
   * Adds a job and returns its id without waiting (fire and forget; `result(id)` waits later).
   * A bad request or a job over the size cap throws SandboxError here, before anything is queued.
   */
  async add(request: JobRequest | JobRequest[], options: QueueAddOptions = {}): Promise<string> {
    const steps = Array.isArray(request) ? request : [request];
    if (steps.length === 0 || steps.length > MAX_STEPS)
      throw new SandboxError(`Expected 1 to ${MAX_STEPS} requests for a job but received ${steps.length}`, { stage: 'request' });
    steps.forEach((s, i) => {
      try {
        parseRequest(s);
      } catch (e) {
        throw new SandboxError(`${steps.length > 1 ? `steps[${i}]: ` : ''}${(e as Error).message}`, { stage: 'request', cause: e });
      }
    });
    const { priority, timeout, attempts, jobId } = options;
    if (priority !== undefined && (!Number.isSafeInteger(priority) || priority < 1 || priority > 2 ** 21)) {
      throw new SandboxError(`Expected an integer from 1 to 2097152 for priority but received ${priority}`, { stage: 'options' });
    }
    if (timeout !== undefined && !(timeout > 0))
      throw new SandboxError(`Expected a positive number of milliseconds for timeout but received ${timeout}`, { stage: 'options' });
    const data: QueueJobData = { steps, deadline: timeout === undefined ? null : Date.now() + timeout };
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > this.#maxJobBytes) {
      throw new SandboxError(
        `the job is ${size} bytes, over the cap of ${this.#maxJobBytes} for inline contents: put large files with putFile() and pass { fileId }`,
        { stage: 'job-size' },
      );
    }
    const job = await this.#queue.add('run', data, {
      attempts: attempts ?? DEFAULT_ATTEMPTS,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
      ...(priority !== undefined ? { priority } : {}),
      ...(jobId !== undefined ? { jobId } : {}),
    });
    return job.id!;
  }

  /** Runs one `/run` request on a worker of the fleet: its `/run` response, with where and how it ran. */
  async run(request: JobRequest, options: QueueAddOptions = {}): Promise<QueueRunResult<JobResult[]>> {
    const r = await this.runSteps([request], options);
    return { ...r, results: r.results[0]! };
  }

  /** Runs requests one after another on one worker ("cached:NAME" ids pass files between them). */
  async runSteps(steps: JobRequest[], options: QueueAddOptions = {}): Promise<QueueRunResult<JobResult[][]>> {
    await this.#listen();
    const id = await this.add(steps, options);
    return this.result(id, options.timeout === undefined ? {} : { timeout: options.timeout + 2000 });
  }

  /**
   * Waits for a job's results. Rejects with QueueJobError when the job failed (its stage says why),
   * and with SandboxError (stage 'timeout') after `timeout` ms.
   */
  async result(jobId: string, options: { timeout?: number } = {}): Promise<QueueRunResult<JobResult[][]>> {
    await this.#listen();
    if (this.#waiters.has(jobId)) throw new SandboxError(`job ${jobId} is already awaited by this client`, { stage: 'options' });
    const ret = await new Promise<QueueJobReturn>((resolve, reject) => {
      const w: Waiter = { since: Date.now(), resolve, reject, timer: null };
      if (options.timeout !== undefined) {
        w.timer = setTimeout(() => {
          this.#waiters.delete(jobId);
          void this.#queue.remove(jobId).catch(() => {}); // still waiting: nobody will start it; running: it is killed at its deadline
          reject(new SandboxError(`job ${jobId}: no result within ${options.timeout} ms`, { stage: 'timeout' }));
        }, options.timeout);
      }
      this.#waiters.set(jobId, w);
      // A job that finished before we listened is found by a look-up now, not by its event.
      void this.#sweep([jobId]);
    });
    return { jobId, ...ret };
  }

  /** Puts a file in Redis for every worker, for `blobTtl` seconds; its id goes in `fileId`. */
  async putFile(data: Buffer | string): Promise<string> {
    return putBlob(this.#redisClient(), this.prefix, this.name, typeof data === 'string' ? Buffer.from(data) : data, this.#blobTtl);
  }

  /** Jobs awaited by this client. */
  get awaited(): number {
    return this.#waiters.size;
  }

  async close(): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    for (const [id, w] of this.#waiters) {
      if (w.timer !== null) clearTimeout(w.timer);
      w.reject(new SandboxError(`job ${id}: the client closed before its result`, { stage: 'closed' }));
    }
    this.#waiters.clear();
    if (this.#events !== null) await (await this.#events).close();
    await this.#queue.close();
    this.#redis?.disconnect();
  }

  #redisClient(): Redis {
    if (this.#redis === null) {
      this.#redis = redisClient(this.#connection);
      this.#redis.on('error', () => {}); // commands wait for the reconnection
    }
    return this.#redis;
  }

  #listen(): Promise<QueueEvents> {
    this.#events ??= (async () => {
      const events = new QueueEvents(this.name, { connection: bullConnection(this.#connection), prefix: this.prefix });
      events.on('error', () => {});
      events.on('completed', ({ jobId, returnvalue }) => {
        const v: unknown = typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue;
        this.#settle(jobId, v as QueueJobReturn, null);
      });
      events.on('failed', ({ jobId, failedReason }) => {
        if (!this.#waiters.has(jobId)) return;
        // attemptsMade is not in the event: read with the job.
        void this.#sweep([jobId]).catch(() => this.#settle(jobId, null, new QueueJobError(jobId, failedReason, 0)));
      });
      await events.waitUntilReady();
      this.#sweeper = setInterval(() => {
        const due = [...this.#waiters].filter(([, w]) => Date.now() - w.since >= this.#sweepMs).map(([id]) => id);
        if (due.length > 0 && !this.#sweeping) void this.#sweep(due).catch(() => {});
      }, this.#sweepMs);
      this.#sweeper.unref();
      return events;
    })();
    return this.#events;
  }

  /** Reads the state of awaited jobs in one round trip and settles those that finished. */
  async #sweep(ids: string[]): Promise<void> {
    this.#sweeping = true;
    try {
      const redis = this.#redisClient();
      const base = `${this.prefix}:${this.name}`;
      const pipe = redis.pipeline();
      for (const id of ids) {
        pipe.hmget(`${base}:${id}`, 'returnvalue', 'failedReason', 'atm');
        pipe.zscore(`${base}:completed`, id);
        pipe.zscore(`${base}:failed`, id);
      }
      const replies = (await pipe.exec()) ?? [];
      ids.forEach((id, i) => {
        const [fields, completed, failed] = [replies[3 * i]?.[1], replies[3 * i + 1]?.[1], replies[3 * i + 2]?.[1]] as [
          (string | null)[] | undefined,
          string | null,
          string | null,
        ];
        if (fields === undefined) return;
        if (completed !== null && fields[0] !== null) this.#settle(id, JSON.parse(fields[0]!) as QueueJobReturn, null);
        else if (failed !== null) this.#settle(id, null, new QueueJobError(id, fields[1] ?? 'unknown', Number(fields[2] ?? 0)));
      });
    } finally {
      this.#sweeping = false;
    }
  }

  #settle(jobId: string, ret: QueueJobReturn | null, error: Error | null): void {
    const w = this.#waiters.get(jobId);
    if (w === undefined) return;
    this.#waiters.delete(jobId);
    if (w.timer !== null) clearTimeout(w.timer);
    if (error !== null) w.reject(error);
    else w.resolve(ret!);
  }
}
