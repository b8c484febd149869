// The queue's job model: what a producer puts in a BullMQ job and what a worker completes it with.
// A job holds one or more go-judge `/run` requests (lib/job/types.ts) run in order on one worker;
// its return value holds their `/run` responses, in the same order (docs/queue.md).
import type { JobRequest, JobResult } from '../job/types.js';

/** The data of a queued job. */
export interface QueueJobData {
  /** The `/run` requests, run one after another on one worker (a compile, then runs of its output). */
  steps: JobRequest[];
  /** Epoch milliseconds after which no worker starts the job, and a running one is killed; null: none. */
  deadline: number | null;
}

/** What a worker completes a job with. */
export interface QueueJobReturn {
  /** Each step's `/run` response, in order. */
  results: JobResult[][];
  /** Which start of the job produced these results: 1, or more after a retry or a dead worker. */
  attempt: number;
  /** The worker that ran it: "host:pid". */
  worker: string;
  /** Milliseconds from the job's creation to its start on this worker. */
  waitMs: number;
  /** Milliseconds the worker spent on it. */
  runMs: number;
}

/** A finished job as the client returns it: `results` is one `/run` response, or one per step. */
export interface QueueRunResult<R = JobResult[]> extends Omit<QueueJobReturn, 'results'> {
  jobId: string;
  results: R;
}

export interface QueueAddOptions {
  /** BullMQ's priority: 1 is the highest, 2,097,152 the lowest; a job without one goes before all that have one. */
  priority?: number;
  /** Milliseconds from now after which the job is not started (and a running one is killed). */
  timeout?: number;
  /** Starts allowed when the job fails setup (default 3); a bad request is never retried. */
  attempts?: number;
  /** Your own job id (BullMQ ignores an add whose id exists). */
  jobId?: string;
}
