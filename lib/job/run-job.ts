// runJob(): go-judge's /run over Sandbox, with no HTTP in it, for the server, a queue worker or
// any TypeScript caller. The commands of one request start together, each in a warm sandbox of
// its configuration with its own /w, connected by the request's pipes, and are killed together.
import { realpath, rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors.js';
import type { OutputOption, StdinOption } from '../options.js';
import type { RunResult } from '../result.js';
import type { SandboxProcess } from '../sandbox.js';
import { FileStore } from './file-store.js';
import { CLOCK_PER_CPU, DEFAULT_CLOCK_LIMIT_NS, DEFAULT_COPY_OUT_MAX, DEFAULT_WORK_DIR_SIZE } from './limits.js';
import { parseRequest } from './parse.js';
import { prepareRoot, sandboxOwner, SlotPool, type Slot, type SlotConfig } from './slots.js';
import type { Cmd, Collector, FileError, JobRequest, JobResult, Status } from './types.js';
import { makeWorkRoot } from './work-root.js';
import { isRegularFile, putFile, putSymlink, takeFile, WorkFileError } from './workdir.js';

export const DEFAULT_OUTPUT_LIMIT = 256 * 1024 * 1024;

export interface JobRunnerOptions {
  /** Where fileId and copyOutCached live (default: a new in-memory store). */
  store?: FileStore;
  /** Requests run at once; more wait their turn (default: the CPU count). */
  parallelism?: number;
  /** Host directories that `src` files may come from; empty (the default): `src` is refused. */
  srcPrefix?: string[];
  /**
   * Directory for the commands' working directories (default: a new one under the OS temp dir,
   * named after this process, so that the next runner removes it if this process is killed).
   */
  workRoot?: string;
  /** Most bytes a command may write to one file, and to a stream (default 256 MiB). */
  outputLimit?: number;
  /** copyOutMax of commands that give none (default 64 MiB). */
  copyOutMax?: number;
  /** As root, each /w is a tmpfs of this many bytes (default 512 MiB). */
  workDirSize?: number;
  /** Parent cgroup of the commands' cgroups (Sandbox's cgroupParent; default the caller's own). */
  cgroupParent?: string | null;
}

export interface RunJobOptions {
  /** Aborting kills the request's sandboxes; the promise rejects with SandboxError (stage 'aborted'). */
  signal?: AbortSignal;
}

/** One pipe end's collected bytes (a Collector, or a proxied pipe's copy). */
class Collect {
  chunks: Buffer[] = [];
  kept = 0;
  overflow = false;
  constructor(
    readonly name: string,
    readonly max: number,
    readonly onOverflow: (() => void) | null,
  ) {}
  take(chunk: Buffer): void {
    const room = this.max - this.kept;
    if (chunk.length > room) {
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
      this.kept = this.max;
      if (!this.overflow) {
        this.overflow = true;
        this.onOverflow?.();
      }
      return;
    }
    this.chunks.push(chunk);
    this.kept += chunk.length;
  }
  /** A Writable by shape (what Sandbox's stdio asks of one), cheaper than a stream. */
  sink(): Writable {
    return { write: (c: Buffer) => (this.take(c), true), end: () => {} } as unknown as Writable;
  }
  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** What a command needs that takes no I/O: checked before the request waits for its turn. */
interface Plan {
  cmd: Cmd;
  env: Record<string, string>;
  cpuLimitNs: number | null;
  clockLimitNs: number;
  unenforced: string[];
  config: SlotConfig;
}

interface Prepared extends Plan {
  slot: Slot;
  argv: string[];
  stdin: StdinOption;
  collectors: (Collect | null)[];
  fileError: FileError | null;
  proc: SandboxProcess | null;
  killedForOutput: boolean;
}

export class JobRunner {
  readonly store: FileStore;
  readonly parallelism: number;
  readonly #srcPrefix: string[];
  readonly #outputLimit: number;
  readonly #copyOutMax: number;
  readonly #workRoot: string | null;
  readonly #workDirSize: number;
  readonly #cgroupParent: string | null;
  #slots: Promise<SlotPool> | null = null;
  /** The working directories' parent, when this runner made it (removed at close). */
  #madeRoot: string | null = null;
  #running = 0;
  #waiting: (() => void)[] = [];
  #closed = false;

  constructor(options: JobRunnerOptions = {}) {
    this.store = options.store ?? new FileStore();
    this.parallelism = options.parallelism ?? Math.max(1, (globalThis.navigator?.hardwareConcurrency as number | undefined) ?? 1);
    this.#srcPrefix = (options.srcPrefix ?? []).map((p) => resolvePath(p));
    this.#outputLimit = options.outputLimit ?? DEFAULT_OUTPUT_LIMIT;
    this.#copyOutMax = options.copyOutMax ?? DEFAULT_COPY_OUT_MAX;
    this.#workRoot = options.workRoot ?? null;
    this.#workDirSize = options.workDirSize ?? DEFAULT_WORK_DIR_SIZE;
    this.#cgroupParent = options.cgroupParent ?? null;
  }

  /** Requests running, requests waiting for a turn, and sandboxes kept (busy or warm). */
  async stats(): Promise<{ running: number; waiting: number; slots: number; busySlots: number }> {
    const slots = this.#slots === null ? null : await this.#slots.catch(() => null);
    return { running: this.#running, waiting: this.#waiting.length, slots: slots?.size ?? 0, busySlots: slots?.busy ?? 0 };
  }

  /** Waits for the running requests to end (new ones are refused), then ends the warm sandboxes. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running > 0 || this.#waiting.length > 0) await new Promise((r) => setTimeout(r, 20));
    if (this.#slots !== null) await (await this.#slots).close();
    if (this.#madeRoot !== null) await rm(this.#madeRoot, { recursive: true, force: true });
    this.store.close();
  }

  /** Runs a request (checked here: a bad one throws SandboxError stage 'request' before anything runs). */
  async run(input: unknown, options: RunJobOptions = {}): Promise<JobResult[]> {
    const request = parseRequest(input);
    if (this.#closed) throw new SandboxError('the job runner is closed', { stage: 'closed' });
    // Checked before the turn: a request that cannot run does not wait for one.
    const plans = request.cmd.map((c, i) => this.#plan(c, i));
    this.#checkSrc(request);
    await this.#turn(options.signal);
    try {
      return await this.#run(request, plans, options.signal);
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  async #turn(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw new SandboxError('the request was aborted before it ran', { stage: 'aborted' });
    if (this.#running < this.parallelism) {
      this.#running++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#running++;
        resolve();
      };
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(go), 1);
        reject(new SandboxError('the request was aborted before it ran', { stage: 'aborted' }));
      };
      this.#waiting.push(go);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #slotPool(): Promise<SlotPool> {
    this.#slots ??= (async () => {
      let root = this.#workRoot;
      if (root === null) {
        root = makeWorkRoot();
        this.#madeRoot = root;
      }
      await prepareRoot(root);
      return new SlotPool(root, Math.max(2, this.parallelism * 2), this.#outputLimit, this.#workDirSize, this.#cgroupParent);
    })();
    return this.#slots;
  }

  /** The per-command settings that need no I/O: limits, environment, what is not enforced. */
  #plan(c: Cmd, i: number): Plan {
    const env: Record<string, string> = {};
    for (const [j, e] of (c.env ?? []).entries()) {
      const eq = e.indexOf('=');
      if (eq <= 0)
        throw new SandboxError(`Expected KEY=VALUE for cmd[${i}].env[${j}] but received ${JSON.stringify(e)}`, { stage: 'request' });
      env[e.slice(0, eq)] = e.slice(eq + 1);
    }
    const unenforced: string[] = [];
    if (c.stackLimit) unenforced.push('stackLimit');
    if (c.cpuSetLimit) unenforced.push('cpuSetLimit');
    if (c.dataSegmentLimit || c.strictMemoryLimit) unenforced.push('dataSegmentLimit');
    if (c.addressSpaceLimit) unenforced.push('addressSpaceLimit');
    const cpuLimitNs = c.cpuLimit ? c.cpuLimit : null;
    const clock = c.clockLimit || c.realCpuLimit || 0;
    const clockLimitNs = clock > 0 ? clock : cpuLimitNs !== null ? cpuLimitNs * CLOCK_PER_CPU : DEFAULT_CLOCK_LIMIT_NS;
    return {
      cmd: c,
      env,
      cpuLimitNs,
      clockLimitNs,
      unenforced,
      config: {
        memoryBytes: c.memoryLimit ? c.memoryLimit : null,
        pids: c.procLimit ? c.procLimit : null,
        cpuQuota: c.cpuRateLimit ? c.cpuRateLimit / 1000 : null,
        tty: c.tty === true,
        image: c.image ?? null,
      },
    };
  }

  /** `src` paths: under a --src-prefix directory (lexically here; again after links, in #prepare). */
  #checkSrc(request: JobRequest): void {
    request.cmd.forEach((c, i) => {
      const srcs = [
        ...(c.files ?? []).flatMap((f, j) => (f !== null && 'src' in f ? [[f.src, `cmd[${i}].files[${j}].src`]] : [])),
        ...Object.entries(c.copyIn ?? {}).flatMap(([k, f]) => ('src' in f ? [[f.src, `cmd[${i}].copyIn[${JSON.stringify(k)}].src`]] : [])),
      ];
      for (const [src, field] of srcs) {
        if (!this.#underPrefix(resolvePath(src!))) {
          throw new SandboxError(
            this.#srcPrefix.length === 0
              ? `${field}: host files are refused (the server allows none: --src-prefix)`
              : `${field}: file (${src}) is not under (${this.#srcPrefix.join(', ')})`,
            { stage: 'request' },
          );
        }
      }
    });
  }

  #underPrefix(path: string): boolean {
    return this.#srcPrefix.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
  }

  /** A host src file after its links are resolved, still under a prefix; else a CopyInOpenFile error. */
  async #hostFile(src: string, name: string): Promise<string> {
    let real;
    try {
      real = await realpath(src);
    } catch (e) {
      throw new WorkFileError({ name, type: 'CopyInOpenFile', message: (e as Error).message });
    }
    if (!this.#underPrefix(real))
      throw new WorkFileError({ name, type: 'CopyInOpenFile', message: `${src} leads outside the allowed directories` });
    return real;
  }

  async #storeFile(id: string, name: string): Promise<Buffer> {
    const f = await this.store.get(id);
    if (f === null) throw new WorkFileError({ name, type: 'CopyInOpenFile', message: `file ${id} not exists` });
    return f.data;
  }

  /** copyIn, stdin and collectors of one command, in its slot. */
  async #prepare(p: Prepared): Promise<void> {
    const owner = sandboxOwner();
    const c = p.cmd;
    const entries = Object.entries(c.copyIn ?? {});
    // Links last, after every file: a write never goes through a link of the request's own.
    for (const [dst, f] of entries) {
      if ('symlink' in f) continue;
      if ('src' in f) await putFile(p.slot.dir, dst, { src: await this.#hostFile(f.src, dst) }, owner);
      else if ('content' in f) await putFile(p.slot.dir, dst, { data: Buffer.from(f.content) }, owner);
      else await putFile(p.slot.dir, dst, { data: await this.#storeFile(f.fileId, dst) }, owner);
    }
    for (const [dst, f] of entries) if ('symlink' in f) await putSymlink(p.slot.dir, dst, f.symlink, owner);
    const f0 = c.files?.[0];
    if (f0 !== undefined && f0 !== null) {
      if ('src' in f0) p.stdin = { file: await this.#hostFile(f0.src, 'stdin') };
      else if ('content' in f0) p.stdin = Buffer.from(f0.content);
      else if ('fileId' in f0) p.stdin = await this.#storeFile(f0.fileId, 'stdin');
      else throw new SandboxError('cmd.files[0]: a collector cannot be stdin', { stage: 'request' });
    }
    // A bare name found in /w is run from there, as go-judge runs a copied-in or compiled program.
    const a0 = p.argv[0]!;
    if (!a0.includes('/') && (await isRegularFile(p.slot.dir, a0))) p.argv[0] = `./${a0}`;
  }

  async #run(request: JobRequest, plans: Plan[], signal: AbortSignal | undefined): Promise<JobResult[]> {
    const slots = await this.#slotPool();
    const kill = new AbortController();
    const onAbort = () => kill.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const prepared: Prepared[] = [];
    try {
      // Together: the commands' sandboxes are built (or reset) at once, not one after another.
      const taken = await Promise.allSettled(plans.map((plan) => slots.acquire(plan.config)));
      for (const [i, t] of taken.entries()) {
        if (t.status === 'rejected') continue;
        prepared.push({
          ...plans[i]!,
          slot: t.value,
          argv: [...plans[i]!.cmd.args],
          stdin: 'ignore',
          collectors: [null, null, null],
          fileError: null,
          proc: null,
          killedForOutput: false,
        });
      }
      const refused = taken.find((t) => t.status === 'rejected');
      if (refused !== undefined) throw refused.reason;
      await Promise.all(
        prepared.map((p) =>
          this.#prepare(p).catch((e: unknown) => {
            if (!(e instanceof WorkFileError)) throw e;
            p.fileError = e.fileError;
          }),
        ),
      );
      if (prepared.some((p) => p.fileError !== null)) return prepared.map((p) => notRun(p, prepared));
      if (signal?.aborted) throw new SandboxError('the request was aborted', { stage: 'aborted' });
      const results = await this.#start(request, prepared, kill.signal);
      if (signal?.aborted) throw new SandboxError('the request was aborted', { stage: 'aborted' });
      return await Promise.all(prepared.map((p, i) => this.#finish(p, results[i]!)));
    } finally {
      signal?.removeEventListener('abort', onAbort);
      kill.abort();
      // Not awaited: the slots are cleaned and reset after the results are given (close() waits).
      for (const p of prepared) void slots.release(p.slot);
    }
  }

  /** Starts every command (pipes between them), waits for all; one that cannot start ends the rest. */
  async #start(request: JobRequest, prepared: Prepared[], signal: AbortSignal): Promise<PromiseSettledResult<RunResult>[]> {
    const pipes = request.pipeMapping ?? [];
    const readers = new Set(pipes.map((m) => m.out.index));
    const writers = new Set(pipes.map((m) => `${m.in.index}:${m.in.fd}`));
    const proxies: Collect[][] = prepared.map(() => []);
    const kill = () => {
      for (const p of prepared) p.proc?.kill('SIGKILL');
    };
    try {
      for (const [i, p] of prepared.entries()) {
        const output = (fd: 1 | 2): OutputOption => {
          if (writers.has(`${i}:${fd}`)) return 'pipe';
          const f = p.cmd.files?.[fd];
          if (f === undefined || f === null) return 'ignore';
          if (!('max' in f))
            throw new SandboxError(`cmd[${i}].files[${fd}]: an output must be a collector { name, max }`, { stage: 'request' });
          const col = new Collect((f as Collector).name, (f as Collector).max, () => {
            p.killedForOutput = true;
            p.proc?.kill('SIGKILL');
          });
          p.collectors[fd] = col;
          return col.sink();
        };
        const stdout = output(1);
        const stderr = output(2);
        p.proc = p.slot.sandbox.spawn(p.argv, {
          stdin: readers.has(i) ? 'pipe' : p.stdin,
          stdout,
          stderr,
          env: p.env,
          wallTimeLimit: p.clockLimitNs / 1e9,
          ...(p.cpuLimitNs !== null ? { timeLimit: p.cpuLimitNs / 1e9 } : {}),
          signal,
        });
      }
    } catch (e) {
      kill();
      await Promise.allSettled(prepared.map((p) => p.proc?.result));
      throw e;
    }
    for (const m of pipes) {
      const from = prepared[m.in.index]!.proc!;
      const src = (m.in.fd === 1 ? from.stdout : from.stderr) as Readable;
      const dst = prepared[m.out.index]!.proc!.stdin!;
      if (m.proxy && m.name !== undefined) {
        const copy = new Collect(m.name, m.max ?? this.#copyOutMax, null);
        proxies[m.in.index]!.push(copy);
        src.on('data', (c: Buffer) => copy.take(c));
      }
      src.pipe(dst);
      // What the reader no longer takes is discarded, so the writer is never stuck on a full pipe.
      dst.once('close', () => {
        src.unpipe(dst);
        src.resume();
      });
    }
    for (const [i, p] of prepared.entries()) for (const c of proxies[i]!) p.collectors.push(c);
    const settled = await Promise.allSettled(prepared.map((p) => p.proc!.result));
    // One that could not start (its result a SandboxError) must not leave the others running.
    if (settled.some((s) => s.status === 'rejected')) kill();
    return settled;
  }

  async #finish(p: Prepared, settled: PromiseSettledResult<RunResult>): Promise<JobResult> {
    if (settled.status === 'rejected') {
      const e = settled.reason as Error;
      return internalError(p, e.message);
    }
    const r = settled.value;
    const time = Math.round(r.cpuTimeMs * 1e6);
    const runTime = Math.round(r.wallTimeMs * 1e6);
    const signo = r.signal === null ? null : ((osConstants.signals as Record<string, number>)[r.signal] ?? null);
    let status: Status;
    const fileError: FileError[] = [];
    const overflowed = p.collectors.filter((c): c is Collect => c?.overflow === true && c.onOverflow !== null);
    if (p.killedForOutput || overflowed.length > 0 || r.outcome === 'output-limit') {
      status = 'Output Limit Exceeded';
      for (const c of overflowed) fileError.push({ name: c.name, type: 'CollectSizeExceeded' });
    } else if (r.outcome === 'cpu-time-limit' || r.outcome === 'wall-time-limit') status = 'Time Limit Exceeded';
    else if (r.outcome === 'memory-limit') status = 'Memory Limit Exceeded';
    else if (p.cpuLimitNs !== null && time > p.cpuLimitNs) status = 'Time Limit Exceeded';
    else if (p.cmd.memoryLimit && r.memoryPeakBytes > p.cmd.memoryLimit && r.outcome !== 'ok') status = 'Memory Limit Exceeded';
    else if (r.outcome === 'signaled') status = 'Signalled';
    else if (r.outcome === 'nonzero-exit') status = 'Nonzero Exit Status';
    else status = 'Accepted';

    const files: Record<string, string> = {};
    const fileIds: Record<string, string> = {};
    const max = p.cmd.copyOutMax || this.#copyOutMax;
    const fetch = async (entry: string): Promise<{ name: string; data: Buffer } | null> => {
      const optional = entry.endsWith('?');
      const name = optional ? entry.slice(0, -1) : entry;
      const col = p.collectors.find((c) => c !== null && c.name === name);
      if (col) return { name, data: col.data() };
      try {
        return { name, data: await takeFile(p.slot.dir, name, max, p.cmd.copyOutTruncate === true) };
      } catch (e) {
        if (!(e instanceof WorkFileError)) throw e;
        if (optional && e.fileError.type === 'CopyOutOpen') return null;
        fileError.push(e.fileError);
        return null;
      }
    };
    for (const entry of p.cmd.copyOut ?? []) {
      const got = await fetch(entry);
      if (got !== null) files[got.name] = got.data.toString('utf8');
    }
    // A proxied pipe's copy comes back with the command that wrote it, as its own file.
    for (const c of p.collectors.slice(3)) if (c !== null) files[c.name] = c.data().toString('utf8');
    for (const entry of p.cmd.copyOutCached ?? []) {
      const got = await fetch(entry);
      if (got === null) continue;
      try {
        fileIds[got.name] = await this.store.add(got.name, got.data);
      } catch (e) {
        fileError.push({ name: got.name, type: 'CopyOutCreateFile', message: (e as Error).message });
      }
    }
    if (status === 'Accepted' && fileError.length > 0) status = 'File Error';
    const result: JobResult = {
      status,
      exitStatus: r.exitCode ?? signo ?? 0,
      time,
      memory: r.memoryPeakBytes,
      runTime,
      sandbox: {
        outcome: r.outcome,
        enforcement: r.enforcement,
        sources: r.sources,
        limits: r.limits,
        unenforced: p.unenforced,
        warm: p.slot.warm,
      },
    };
    if (status === 'File Error') result.error = fileError.map((f) => `${f.type}: ${f.name}`).join('; ');
    if (Object.keys(files).length > 0) result.files = files;
    if (Object.keys(fileIds).length > 0) result.fileIds = fileIds;
    if (fileError.length > 0) result.fileError = fileError;
    return result;
  }
}

function blank(p: Prepared): Omit<JobResult, 'status'> {
  return {
    exitStatus: 0,
    time: 0,
    memory: 0,
    runTime: 0,
    sandbox: { outcome: null, enforcement: null, sources: null, limits: null, unenforced: p.unenforced, warm: p.slot.warm },
  };
}

function internalError(p: Prepared, message: string): JobResult {
  return { status: 'Internal Error', ...blank(p), error: message };
}

/** A request with a file that could not be copied in runs none of its commands. */
function notRun(p: Prepared, all: Prepared[]): JobResult {
  if (p.fileError !== null) {
    return {
      status: 'File Error',
      ...blank(p),
      error: `${p.fileError.type}: ${p.fileError.name}: ${p.fileError.message ?? ''}`,
      fileError: [p.fileError],
    };
  }
  const other = all.findIndex((q) => q.fileError !== null);
  return { status: 'File Error', ...blank(p), error: `not run: the files of cmd[${other}] could not be copied in` };
}

let defaultRunner: JobRunner | null = null;

/**
 * Runs one go-judge `/run` request and returns its results, one per command, in order. Without
 * `runner`, a runner shared by every such call (in-memory file store, no host `src` files).
 */
export function runJob(request: unknown, options: RunJobOptions & { runner?: JobRunner } = {}): Promise<JobResult[]> {
  defaultRunner ??= options.runner === undefined ? new JobRunner() : null;
  return (options.runner ?? defaultRunner!).run(request, options);
}
