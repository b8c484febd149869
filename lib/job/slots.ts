// Warm slots: a slot is a host working directory and a Sandbox with one warm sandbox that has
// that directory mounted rw at /w. A command takes an idle slot of its configuration (limits,
// image, tty), so a run costs a warm run() plus its file copies; slots of configurations no
// longer asked for are ended when the idle ones exceed the cap.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Sandbox } from '../sandbox.js';
import { SandboxError } from '../errors.js';
import type { SandboxOptions } from '../options.js';
import { ROOT_CALLER_HOST_ID } from '../build-plan.js';
import { TMP_SIZE } from './limits.js';
import { emptyDir, type Owner } from './workdir.js';

/** What makes two commands need different sandboxes. */
export interface SlotConfig {
  memoryBytes: number | null;
  pids: number | null;
  cpuQuota: number | null;
  tty: boolean;
  image: string | null;
}

export interface Slot {
  readonly key: string;
  readonly dir: string;
  /** The directory is a tmpfs of its own (root), capped at the pool's workDirSize. */
  readonly mounted: boolean;
  readonly sandbox: Sandbox;
  /** Whether the sandbox keeps a warm member (tty runs cannot). */
  readonly warm: boolean;
}

/** The host ids a sandbox's files are written as: nobody when the server runs as root. */
export function sandboxOwner(): Owner {
  return process.getuid?.() === 0 ? { uid: ROOT_CALLER_HOST_ID, gid: ROOT_CALLER_HOST_ID } : null;
}

export class SlotPool {
  readonly #root: string;
  readonly #maxIdle: number;
  readonly #outputLimit: number;
  readonly #workDirSize: number;
  readonly #cgroupParent: string | null;
  /** Idle slots, oldest first. */
  #idle: Slot[] = [];
  #busy = new Set<Slot>();
  /** Slots given back whose directory is being emptied and whose sandbox is being reset. */
  readonly #resetting = new Map<Slot, Promise<void>>();
  #made = 0;
  /** Configurations whose spare slot is being made. */
  readonly #making = new Set<string>();
  readonly #spares = new Set<Promise<unknown>>();
  #closed = false;

  constructor(root: string, maxIdle: number, outputLimit: number, workDirSize: number, cgroupParent: string | null) {
    this.#cgroupParent = cgroupParent;
    this.#root = root;
    this.#maxIdle = maxIdle;
    this.#outputLimit = outputLimit;
    this.#workDirSize = workDirSize;
  }

  get size(): number {
    return this.#idle.length + this.#busy.size + this.#resetting.size;
  }

  get busy(): number {
    return this.#busy.size;
  }

  /** An idle slot of this configuration, its sandbox ready: a command spawned on it starts at once. */
  async acquire(cfg: SlotConfig): Promise<Slot> {
    const key = JSON.stringify(cfg);
    for (;;) {
      if (this.#closed) throw new SandboxError('the server is shutting down', { stage: 'closed' });
      // The oldest idle slot: the one whose sandbox has had longest to reset since its last run.
      const i = this.#idle.findIndex((s) => s.key === key);
      if (i >= 0) return this.#take(this.#idle.splice(i, 1)[0]!, cfg);
      // A reset takes a fraction of what building a sandbox takes: wait for one rather than build.
      const resetting = [...this.#resetting].find(([s]) => s.key === key);
      if (resetting === undefined) break;
      await resetting[1];
    }
    const slot = await this.#make(key, cfg);
    await ready(slot);
    return this.#take(slot, cfg);
  }

  #take(slot: Slot, cfg: SlotConfig): Slot {
    this.#busy.add(slot);
    this.#spare(slot.key, cfg);
    return slot;
  }

  /**
   * Keeps one idle slot of this configuration ready beside the one just taken: a warm sandbox
   * is reset after each run, and a request that comes right after another then takes the spare
   * rather than wait for that reset.
   */
  #spare(key: string, cfg: SlotConfig): void {
    if (cfg.tty || this.#making.has(key) || this.#idle.some((s) => s.key === key) || this.size + 1 > this.#maxIdle) return;
    this.#making.add(key);
    const made = this.#make(key, cfg)
      .then(async (slot) => {
        await ready(slot);
        if (this.#closed) return this.#end(slot);
        this.#idle.push(slot);
      })
      .catch(() => {})
      .finally(() => {
        this.#making.delete(key);
        this.#spares.delete(made);
      });
    this.#spares.add(made);
  }

  /**
   * Gives the slot back. It is idle again once its directory is emptied and its sandbox reset,
   * which the caller need not wait for: a result is never held back by the next run's cleaning.
   * A slot that cannot be emptied or reset is ended.
   */
  release(slot: Slot): Promise<void> {
    this.#busy.delete(slot);
    const reset = (async () => {
      try {
        await emptyDir(slot.dir);
      } catch {
        await this.#end(slot);
        return;
      }
      await ready(slot);
      if (this.#closed) return this.#end(slot);
      this.#idle.push(slot);
      while (this.#idle.length > this.#maxIdle) await this.#end(this.#idle.shift()!);
    })().finally(() => this.#resetting.delete(slot));
    this.#resetting.set(slot, reset);
    return reset;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#spares, ...this.#resetting.values()]);
    const idle = this.#idle;
    this.#idle = [];
    await Promise.all(idle.map((s) => this.#end(s)));
  }

  async #make(key: string, cfg: SlotConfig): Promise<Slot> {
    const dir = join(this.#root, `w${++this.#made}`);
    await mkdir(dir, { mode: 0o755 });
    const owner = sandboxOwner();
    const mounted = owner !== null && (await mountWorkDir(dir, owner, this.#workDirSize));
    if (owner !== null && !mounted) await chown(dir, owner.uid, owner.gid);
    const warm = !cfg.tty;
    const options: SandboxOptions = {
      binds: [{ src: dir, dst: '/w', rw: true }],
      cwd: '/w',
      tmpfs: [{ dst: '/tmp', size: TMP_SIZE }],
      outputLimit: this.#outputLimit,
      ...(cfg.memoryBytes !== null ? { memory: cfg.memoryBytes } : {}),
      ...(cfg.pids !== null ? { pids: cfg.pids } : {}),
      ...(cfg.cpuQuota !== null ? { cpuQuota: cfg.cpuQuota } : {}),
      ...(cfg.tty ? { tty: true } : {}),
      ...(this.#cgroupParent !== null ? { cgroupParent: this.#cgroupParent } : {}),
      ...(warm ? { pool: 1 } : {}),
      ...(cfg.image !== null ? { image: cfg.image } : {}),
    };
    // A root caller's image run is the image's ids (lib/image/owners.ts); /w is the owner's.
    if (cfg.image !== null && owner !== null) options.user = owner;
    let sandbox: Sandbox;
    try {
      sandbox = new Sandbox(options);
    } catch (e) {
      await removeWorkDir(dir, mounted);
      // An image the store does not hold is the request's mistake: a 400, not the server's failure.
      if (e instanceof SandboxError && e.stage === 'image') throw new SandboxError(e.message, { stage: 'request', cause: e });
      throw e;
    }
    return { key, dir, mounted, sandbox, warm };
  }

  async #end(slot: Slot): Promise<void> {
    await slot.sandbox.close().catch(() => {});
    await removeWorkDir(slot.dir, slot.mounted).catch(() => {});
  }
}

/**
 * Waits until the slot's warm sandbox is ready for a run (built, or reset after the last one). One
 * that cannot be built leaves the slot usable: its runs then build their own sandbox, as run() on
 * a Sandbox whose warm members cannot be built does.
 */
async function ready(slot: Slot): Promise<void> {
  await slot.sandbox.warm().catch(() => {});
}

const run = promisify(execFile);

/**
 * As root, the working directory is a tmpfs of its own, so that a command cannot fill the host's
 * disk: at most `size` bytes and 16k inodes, owned by the sandbox's id. Rootless callers cannot
 * mount on the host: their /w is a plain directory, capped per file by the output limit only.
 */
async function mountWorkDir(dir: string, owner: { uid: number; gid: number }, size: number): Promise<boolean> {
  try {
    await run('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=${size},nr_inodes=16384,mode=0755,uid=${owner.uid},gid=${owner.gid},nosuid,nodev`,
      'sandbox-w',
      dir,
    ]);
    return true;
  } catch {
    return false;
  }
}

async function removeWorkDir(dir: string, mounted: boolean): Promise<void> {
  if (mounted) await run('umount', [dir]);
  await rm(dir, { recursive: true, force: true });
}

/** The slots' parent directory: traversable by the sandbox's ids (root: nobody), listable by none. */
export async function prepareRoot(root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o711 });
  await chmod(root, 0o711);
}
