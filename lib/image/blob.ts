// Blob streams: digests verified while the bytes go by, and layer decompression (gzip, zstd, none,
// told apart by their magic bytes, whatever the media type claims).
import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress as ZstdStream } from 'fzstd';
import { LayerError, LayerWriter, type ExtractResult } from './extract.js';

export type Bytes = AsyncIterable<Buffer>;

/** Passes SOURCE through; at its end throws when its sha256 is not DIGEST or its length not SIZE. */
export async function* verifyDigest(source: Bytes, digest: string, size: number | null, what: string): Bytes {
  const hash = createHash('sha256');
  let n = 0;
  for await (const chunk of source) {
    n += chunk.length;
    if (size !== null && n > size) throw new LayerError(`${what}: more than the ${size} bytes its descriptor says`);
    hash.update(chunk);
    yield chunk;
  }
  if (size !== null && n !== size) throw new LayerError(`${what}: ${n} bytes, its descriptor says ${size} (truncated)`);
  const got = 'sha256:' + hash.digest('hex');
  if (got !== digest) throw new LayerError(`${what}: digest mismatch: content is ${got}, expected ${digest}`);
}

export type Compression = 'gzip' | 'zstd' | 'none';

/** Decompressed chunks of 1 MiB, not zlib's 16 KiB: each chunk is a round trip to the thread pool,
 * which costs a scheduling delay of its own on a loaded machine. */
const OUT_CHUNK = 1024 * 1024;

export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** SOURCE decompressed according to its first bytes. */
export async function* decompress(source: Bytes): Bytes {
  const it = source[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  if (first.done) return;
  const head = first.value;
  const rest: Bytes = {
    async *[Symbol.asyncIterator]() {
      yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    },
  };
  const kind = sniffCompression(head);
  if (kind === 'none') {
    yield* rest;
    return;
  }
  if (kind === 'zstd' && typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress !== 'function') {
    yield* zstdJs(rest);
    return;
  }
  const z: NodeJS.ReadWriteStream =
    kind === 'gzip'
      ? zlib.createGunzip({ chunkSize: OUT_CHUNK })
      : (zlib as unknown as { createZstdDecompress(o: object): NodeJS.ReadWriteStream }).createZstdDecompress({ chunkSize: OUT_CHUNK });
  const out = pipeline(Readable.from(rest), z as unknown as NodeJS.WritableStream & NodeJS.ReadableStream, () => {});
  try {
    for await (const chunk of out as AsyncIterable<Buffer>) yield chunk;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code?.startsWith('Z_') || err.code === 'ERR_ZLIB_INITIALIZATION_FAILED') {
      throw new LayerError(`corrupt ${kind} data (${err.message})`);
    }
    throw e;
  }
}

/** zstd without node:zlib's (Node < 22.15): fzstd, a pure-JavaScript streaming decoder. */
async function* zstdJs(source: Bytes): Bytes {
  const out: Buffer[] = [];
  let ended = false;
  const dec = new ZstdStream((data, final) => {
    if (data.length > 0) out.push(Buffer.from(data.buffer, data.byteOffset, data.length));
    if (final) ended = true;
  });
  try {
    for await (const chunk of source) {
      dec.push(chunk);
      while (out.length > 0) yield out.shift()!;
    }
    dec.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof LayerError) throw e;
    if ((e as { code?: unknown }).code !== undefined && typeof (e as { code?: unknown }).code === 'number') {
      throw new LayerError(`corrupt zstd data (${(e as Error).message})`);
    }
    throw e;
  }
  while (out.length > 0) yield out.shift()!;
  if (!ended) throw new LayerError('corrupt zstd data (truncated)');
}

export interface LayerSource {
  bytes: Bytes;
  /** The digest the (possibly compressed) bytes must have, or null when the source is trusted to be
   * checked by DIFF_ID alone (a plain rootfs tar, whose digest is computed here). */
  digest: string | null;
  size: number | null;
  /** The digest the uncompressed tar must have (the config's rootfs.diff_ids), or null. */
  diffId: string | null;
  what: string;
}

export interface IngestedLayer extends ExtractResult {
  diffId: string;
}

/** Verifies, decompresses and extracts a layer into DIR (a staging directory), checking both digests. */
export async function ingestLayer(src: LayerSource, dir: string, signal?: AbortSignal): Promise<IngestedLayer> {
  let bytes = src.bytes;
  if (src.digest !== null) bytes = verifyDigest(bytes, src.digest, src.size, src.what);
  const hash = createHash('sha256');
  const writer = new LayerWriter(dir);
  for await (const chunk of decompress(bytes)) {
    signal?.throwIfAborted();
    hash.update(chunk);
    await writer.write(chunk);
  }
  const result = await writer.end();
  const diffId = 'sha256:' + hash.digest('hex');
  if (src.diffId !== null && diffId !== src.diffId) {
    throw new LayerError(`${src.what}: uncompressed digest mismatch: content is ${diffId}, the config says ${src.diffId}`);
  }
  return { ...result, diffId };
}
