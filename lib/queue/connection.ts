// How the client and the worker reach Redis: a URL ("redis://host:6379/0") or ioredis options.
// BullMQ gets them as they are; the blob and result look-ups use an ioredis client of their own.
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export type Connection = string | RedisOptions;

/** BullMQ's connection options for `c`. */
export function bullConnection(c: Connection): ConnectionOptions {
  return (typeof c === 'string' ? { url: c } : { ...c }) as ConnectionOptions;
}

/** An ioredis client that waits out a Redis restart rather than failing its commands. */
export function redisClient(c: Connection): Redis {
  const opts: RedisOptions = { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 200, 2000) };
  return typeof c === 'string' ? new Redis(c, opts) : new Redis({ ...c, ...opts });
}
