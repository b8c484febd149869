// The file store behind `POST /file`, `fileId` and `copyOutCached`: files in memory or in a
// directory (`--dir`), capped in bytes and count, each dropped after `ttlMs` without use.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';

export interface FileStoreOptions {
  /** Keep files here rather than in memory. Emptied at start: the store owns it. */
  dir?: string | null;
  /** Most bytes held at once. */
  maxBytes?: number;
  /** Most files held at once. */
  maxFiles?: number;
  /** A file unused this long is dropped; 0: never. */
  ttlMs?: number;
}

interface Entry {
  name: string;
  size: number;
  /** In memory, or null when on disk. */
  data: Buffer | null;
  lastUse: number;
}

export const DEFAULT_STORE_MAX_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_STORE_MAX_FILES = 10000;
export const DEFAULT_STORE_TTL_MS = 60 * 60 * 1000;

/** go-judge's ids: base32, upper case. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export function newFileId(): string {
  const bytes = randomBytes(16);
  let id = '';
  for (const b of bytes) id += ALPHABET[b & 31];
  return id;
}
const ID_SHAPE = /^[A-Z2-7]{16}$/;

export class FileStore {
  readonly dir: string | null;
  readonly maxBytes: number;
  readonly maxFiles: number;
  readonly ttlMs: number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(options: FileStoreOptions = {}) {
    this.dir = options.dir ?? null;
    this.maxBytes = options.maxBytes ?? DEFAULT_STORE_MAX_BYTES;
    this.maxFiles = options.maxFiles ?? DEFAULT_STORE_MAX_FILES;
    this.ttlMs = options.ttlMs ?? DEFAULT_STORE_TTL_MS;
    if (this.dir !== null) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // Files left by an earlier server are unknown to this one: their ids were never returned by it.
      for (const f of readdirSync(this.dir)) if (ID_SHAPE.test(f)) rmSync(join(this.dir, f), { force: true });
    }
    if (this.ttlMs > 0) {
      this.#sweeper = setInterval(() => this.#sweep(), Math.max(1000, Math.min(60_000, this.ttlMs / 4)));
      this.#sweeper.unref();
    }
  }

  get bytes(): number {
    return this.#bytes;
  }

  get count(): number {
    return this.#entries.size;
  }

  /** Stores `data` under a new id. Throws SandboxError (stage 'file-store') past a cap. */
  async add(name: string, data: Buffer): Promise<string> {
    if (this.#entries.size >= this.maxFiles) {
      throw new SandboxError(`file store full: ${this.maxFiles} files held`, { stage: 'file-store' });
    }
    if (this.#bytes + data.length > this.maxBytes) {
      throw new SandboxError(`file store full: ${this.#bytes} of ${this.maxBytes} bytes held, ${data.length} more asked`, {
        stage: 'file-store',
      });
    }
    const id = newFileId();
    const entry: Entry = { name, size: data.length, data: this.dir === null ? data : null, lastUse: Date.now() };
    // Counted before the write: concurrent adds cannot pass the cap together.
    this.#entries.set(id, entry);
    this.#bytes += data.length;
    if (this.dir !== null) {
      try {
        await writeFile(join(this.dir, id), data, { mode: 0o600 });
      } catch (e) {
        this.#drop(id);
        throw new SandboxError(`file store: cannot write ${name}: ${(e as Error).message}`, { stage: 'file-store', cause: e });
      }
    }
    return id;
  }

  /** The file's name and contents, or null when there is no such id. */
  async get(id: string): Promise<{ name: string; data: Buffer } | null> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return null;
    entry.lastUse = Date.now();
    if (entry.data !== null) return { name: entry.name, data: entry.data };
    try {
      return { name: entry.name, data: await readFile(join(this.dir!, id)) };
    } catch {
      return null;
    }
  }

  /** id → name of every file held. */
  list(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, e] of this.#entries) out[id] = e.name;
    return out;
  }

  remove(id: string): boolean {
    if (!this.#entries.has(id)) return false;
    this.#drop(id);
    return true;
  }

  close(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  #drop(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    this.#bytes -= entry.size;
    if (this.dir !== null) void rm(join(this.dir, id), { force: true }).catch(() => {});
  }

  #sweep(): void {
    const oldest = Date.now() - this.ttlMs;
    for (const [id, e] of this.#entries) if (e.lastUse < oldest) this.#drop(id);
  }
}
