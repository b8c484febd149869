// Caps and defaults of the queue, shared by the client and the worker.
/** Largest job (its JSON): inline contents travel in Redis with it; larger data goes by blob. */
export const DEFAULT_MAX_JOB_BYTES = 4 * 1024 * 1024;
/** Largest return value (its JSON): results are kept in Redis and sent to waiting clients. */
export const DEFAULT_MAX_RESULT_BYTES = 4 * 1024 * 1024;
/** How long a blob stays in Redis after its last put (seconds). */
export const DEFAULT_BLOB_TTL_S = 24 * 3600;
/** Bytes of blobs a worker keeps in memory: test data is read by many jobs. */
export const DEFAULT_BLOB_CACHE_BYTES = 256 * 1024 * 1024;
/** Starts of a job that fails setup, by default. */
export const DEFAULT_ATTEMPTS = 3;
/** Finished jobs kept in Redis for clients that fetch results late (seconds, count). */
export const KEEP_COMPLETED = { age: 3600, count: 100_000 };
export const KEEP_FAILED = { age: 24 * 3600, count: 100_000 };
/** `/run` requests in one job: a compile, then a run per test. */
export const MAX_STEPS = 1024;
/** The queue's name when none is given. */
export const DEFAULT_QUEUE = 'sandbox';
/** BullMQ's key prefix when none is given. */
export const DEFAULT_PREFIX = 'bull';
