// Scale-out on Redis with BullMQ (docs/queue.md): the producer's client and the worker.
export { SandboxQueue, type SandboxQueueOptions } from './client.js';
export { SandboxWorker, type SandboxWorkerOptions } from './worker.js';
export { QueueJobError } from './failure.js';
export type { Connection } from './connection.js';
export type { QueueAddOptions, QueueJobData, QueueJobReturn, QueueRunResult } from './types.js';
