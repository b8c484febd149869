// The file ids of one queued job. The worker's file store is its own, so ids that mean something to
// a producer are of two kinds, turned into store ids here before a step runs:
//   "sha256:<hex>"  a blob in Redis (./blobs.ts), valid fleet-wide until its TTL runs out;
//   "cached:NAME"   the file an earlier step of the same job kept with copyOutCached under NAME.
// A step's fileIds come back as "cached:NAME". Everything the job put in the store is removed when
// it ends. Any other id is left as it is: the runner reports it as a File Error, as go-judge does.
import type { FileStore } from '../job/file-store.js';
import type { InputFile, JobRequest, JobResult } from '../job/types.js';
import { BLOB_ID } from './blobs.js';

export const CACHED_PREFIX = 'cached:';

export class JobFiles {
  readonly #store: FileStore;
  readonly #blob: (id: string) => Promise<Buffer>;
  /** Store ids this job made, removed at its end. */
  readonly #made: string[] = [];
  /** copyOutCached name → store id, the latest step's winning. */
  readonly #cached = new Map<string, string>();
  readonly #blobs = new Map<string, string>();

  constructor(store: FileStore, blob: (id: string) => Promise<Buffer>) {
    this.#store = store;
    this.#blob = blob;
  }

  /** The step with its producer ids turned into store ids (a copy; the job's data is left as it is). */
  async resolve(step: JobRequest): Promise<JobRequest> {
    const out: JobRequest = { ...step, cmd: [] };
    for (const c of step.cmd) {
      const files =
        c.files === undefined ? undefined : await Promise.all(c.files.map((f) => (f !== null && 'fileId' in f ? this.#input(f) : f)));
      let copyIn = c.copyIn;
      if (copyIn !== undefined) {
        const entries = await Promise.all(
          Object.entries(copyIn).map(async ([k, f]) => [k, 'fileId' in f ? await this.#input(f) : f] as const),
        );
        copyIn = Object.fromEntries(entries);
      }
      out.cmd.push({ ...c, ...(files === undefined ? {} : { files }), ...(copyIn === undefined ? {} : { copyIn }) });
    }
    return out;
  }

  /** Notes the files a step cached and renames them in its results to "cached:NAME". */
  adopt(results: JobResult[]): void {
    for (const r of results) {
      if (r.fileIds === undefined) continue;
      for (const [name, id] of Object.entries(r.fileIds)) {
        this.#made.push(id);
        this.#cached.set(name, id);
        r.fileIds[name] = CACHED_PREFIX + name;
      }
    }
  }

  release(): void {
    for (const id of this.#made) this.#store.remove(id);
  }

  async #input(f: { fileId: string }): Promise<InputFile> {
    const id = f.fileId;
    if (id.startsWith(CACHED_PREFIX)) {
      const got = this.#cached.get(id.slice(CACHED_PREFIX.length));
      return got === undefined ? f : { fileId: got };
    }
    if (!BLOB_ID.test(id)) return f;
    let local = this.#blobs.get(id);
    if (local === undefined) {
      local = await this.#store.add(id, await this.#blob(id));
      this.#made.push(local);
      this.#blobs.set(id, local);
    }
    return { fileId: local };
  }
}
