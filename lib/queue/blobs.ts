// Large data by reference: a content-addressed blob in Redis with a TTL. A producer puts a file once
// (`SandboxQueue.putFile`) and every job of the fleet names it by `fileId: "sha256:<hex>"`, so test
// data shared by thousands of runs crosses the network once per worker, not once per job, and needs
// no filesystem shared by the machines. A put of content already held only renews its TTL.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SandboxError } from '../errors.js';

export const BLOB_ID = /^sha256:([0-9a-f]{64})$/;

export function blobId(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function blobKey(prefix: string, queue: string, id: string): string {
  return `${prefix}:${queue}:blob:${id.slice('sha256:'.length)}`;
}

/** Stores `data` (or renews the TTL of the same content) and returns its id. */
export async function putBlob(redis: Redis, prefix: string, queue: string, data: Buffer, ttlS: number): Promise<string> {
  const id = blobId(data);
  const key = blobKey(prefix, queue, id);
  if ((await redis.expire(key, ttlS)) === 1) return id;
  await redis.set(key, data, 'EX', ttlS);
  return id;
}

/** A worker's in-memory copies of blobs, least recently used dropped first past `maxBytes`. */
export class BlobCache {
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;
  constructor(readonly maxBytes: number) {}

  /** The blob's bytes, from memory or Redis; a blob that is not there is a setup failure (stage 'blob'). */
  async get(redis: Redis, prefix: string, queue: string, id: string): Promise<Buffer> {
    const hit = this.#entries.get(id);
    if (hit !== undefined) {
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      return hit;
    }
    const data = await redis.getBuffer(blobKey(prefix, queue, id));
    if (data === null) throw new SandboxError(`blob ${id} is not in Redis (never put, or its TTL ran out)`, { stage: 'blob' });
    if (blobId(data) !== id) throw new SandboxError(`blob ${id}: its content does not hash to its id`, { stage: 'blob' });
    if (data.length <= this.maxBytes) {
      this.#entries.set(id, data);
      this.#bytes += data.length;
      for (const [k, v] of this.#entries) {
        if (this.#bytes <= this.maxBytes) break;
        this.#entries.delete(k);
        this.#bytes -= v.length;
      }
    }
    return data;
  }
}
