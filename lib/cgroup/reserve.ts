// Cgroups made ahead of their runs, for warm sandboxes (the `pool` option) with limits.
//
// Making a run's cgroup is the largest part of what a run with limits costs the event loop's
// thread: on cgroup v1 a mkdir per hierarchy (a new memory, pids, cpu cgroup in the kernel) and five
// writes, ~0.3 ms. A reserve keeps a few made, limits written, by one job on the addon's own thread (csrc/lane.h) per
// cgroup (./steps.ts): a run takes one and the next is made while it runs. Each run still gets a
// new cgroup of its own (counters at zero, nothing charged to it yet); only the moment of its
// making moves. Empty cgroups wait in the reserve: they hold no task and count nothing.
//
// Nothing is left behind: close() removes the stock (Sandbox.close()), and so does the process's
// exit; a process killed outright leaves them to the next process's stale sweep (./stale.ts: the
// names carry the owner's pid and start time).
import type { CgroupLimits, CgroupManager, SandboxCgroup } from './types.js';

const live = new Set<CgroupReserve>();
let exitHook = false;

/** The stock's directories go with the process (synchronously: 'exit' runs no more I/O callbacks). */
function removeAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const r of live) r.dropNow();
  });
}

export class CgroupReserve {
  readonly #manager: CgroupManager;
  readonly #limits: CgroupLimits;
  readonly #size: number;
  #stock: SandboxCgroup[] = [];
  #making = 0;
  #closed = false;
  /** The last making failed: none is made ahead until one made at a run's launch succeeds. */
  #failing = false;
  #idle: (() => void)[] = [];

  constructor(manager: CgroupManager, limits: CgroupLimits, size: number) {
    this.#manager = manager;
    this.#limits = limits;
    this.#size = size;
    live.add(this);
    removeAtExit();
  }

  /**
   * The most fds the reserve holds: each cgroup made ahead keeps the files its run joins by open
   * until the run is sent, and one more is being made while a run holds the one it took.
   */
  fds(): number {
    return (this.#size + 1) * this.#manager.aheadFds(this.#limits);
  }

  /** A cgroup for a run: one from the stock, else one made now (which throws as create() does). */
  take(): SandboxCgroup {
    let cg = this.#stock.pop();
    if (cg === undefined) {
      cg = this.#manager.create(this.#limits);
      this.#failing = false;
    }
    this.fill();
    return cg;
  }

  /** Starts making cgroups until the stock (with those being made) is full. */
  fill(): void {
    while (!this.#closed && !this.#failing && this.#stock.length + this.#making < this.#size) {
      this.#making++;
      this.#manager.createLater(this.#limits).then(
        (cg) => {
          this.#made();
          if (this.#closed) void cg.destroy();
          else this.#stock.push(cg);
        },
        () => {
          // Said at the next launch, which makes its cgroup itself and reports the failure.
          this.#failing = true;
          this.#made();
        },
      );
    }
  }

  #made(): void {
    if (--this.#making > 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const f of idle) f();
  }

  /** Removes the stock, once the cgroups being made are made. */
  async close(): Promise<void> {
    this.#closed = true;
    live.delete(this);
    while (this.#making > 0) await new Promise<void>((r) => this.#idle.push(r));
    const stock = this.#stock;
    this.#stock = [];
    await Promise.all(stock.map((cg) => cg.destroy()));
  }

  /** Removes the stock now, on this thread (the process is exiting). */
  dropNow(): void {
    this.#closed = true;
    for (const cg of this.#stock) cg.destroyNow();
    this.#stock = [];
  }
}
