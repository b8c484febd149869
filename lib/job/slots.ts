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
import { ROOT_CALLER_HOST_ID } from '../plan.js';
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

/** Whether the Sandbox of this build takes an `image` option (another part of the library adds it). */
function imageSupported(): boolean {
  try {
    new Sandbox({ image: 'probe' } as SandboxOptions);
    return true;
  } catch (e) {
    return !(e instanceof SandboxError && /options\.image/.test(e.message));
  }
}
let imageSupport: boolean | null = null;

export class SlotPool {
  readonly #root: string;
  readonly #maxIdle: number;
  readonly #outputLimit: number;
  readonly #workDirSize: number;
  readonly #cgroupParent: string | null;
  /** Idle slots, oldest first. */
  #idle: Slot[] = [];
  #busy = new Set<Slot>();
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
    return this.#idle.length + this.#busy.size;
  }

  get busy(): number {
    return this.#busy.size;
  }

  async acquire(cfg: SlotConfig): Promise<Slot> {
    if (this.#closed) throw new SandboxError('the server is shutting down', { stage: 'closed' });
    const key = JSON.stringify(cfg);
    // The oldest idle slot: the one whose sandbox has had longest to reset since its last run.
    const i = this.#idle.findIndex((s) => s.key === key);
    let slot: Slot;
    if (i >= 0) slot = this.#idle.splice(i, 1)[0]!;
    else slot = await this.#make(key, cfg);
    this.#busy.add(slot);
    this.#spare(key, cfg);
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
        await slot.sandbox.warm();
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

  /** Gives the slot back, emptied; a slot that cannot be emptied is ended. */
  async release(slot: Slot): Promise<void> {
    this.#busy.delete(slot);
    try {
      await emptyDir(slot.dir);
    } catch {
      await this.#end(slot);
      return;
    }
    if (this.#closed) {
      await this.#end(slot);
      return;
    }
    this.#idle.push(slot);
    while (this.#idle.length > this.#maxIdle) await this.#end(this.#idle.shift()!);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#spares]);
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
    };
    if (cfg.image !== null) {
      imageSupport ??= imageSupported();
      if (!imageSupport) {
        await removeWorkDir(dir, mounted);
        throw new SandboxError('image: this build of sandbox runs no images (its Sandbox has no image option)', { stage: 'request' });
      }
      (options as SandboxOptions & { image: string }).image = cfg.image;
    }
    let sandbox: Sandbox;
    try {
      sandbox = new Sandbox(options);
    } catch (e) {
      await removeWorkDir(dir, mounted);
      throw e;
    }
    return { key, dir, mounted, sandbox, warm };
  }

  async #end(slot: Slot): Promise<void> {
    await slot.sandbox.close().catch(() => {});
    await removeWorkDir(slot.dir, slot.mounted).catch(() => {});
  }
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
