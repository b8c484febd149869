// Network namespaces made ahead of time, off the event loop, and lent to one sandbox at a time.
//
// Making a network namespace costs about a millisecond of CPU under a kernel-wide lock, and
// tearing one down as much again in a kernel worker: without the pool, the largest single cost of
// a launch. The pool makes them on the thread pool (csrc/netns.cc) and lends each to one sandbox;
// when that sandbox has ended it is reused only if it holds nothing: no socket of any family,
// no TIME_WAIT entry, no IP fragment queue (sockstat's own counts, which the sandbox's init reads
// after everything else inside has ended and reports on its pipe). Nothing else in it can have
// changed: the namespace belongs to the caller's user namespace, over which the sandbox has no
// capability, so its interfaces, addresses, routes, firewall and sysctls are out of reach.
//
// Only a caller allowed to make a network namespace (root, CAP_SYS_ADMIN) has a pool; for any
// other the first attempt fails with EPERM, the pool turns itself off, and each sandbox's init
// makes its own namespace.
import { constants } from 'node:os';
import { native } from './native.js';

/** Free namespaces kept ready. */
const READY = 2;
/** At most this many in all (free, lent, being made or checked): more concurrent sandboxes make their own. */
const MAX_OWNED = 64;
/** Consecutive failures to make one after which the pool stops trying. */
const MAX_FAILURES = 3;
/**
 * After this long without a take(), free namespaces beyond READY are closed: each holds some
 * 90-170 KiB of kernel memory (MemAvailable and Slab, over 100 of them), and a burst of 64
 * concurrent sandboxes would otherwise keep 64 for the life of the process.
 */
const IDLE_TRIM_MS = 10_000;

class NetnsPool {
  #free: number[] = [];
  #owned = 0;
  #making = 0;
  #failures = 0;
  #off = false;
  #used = false;
  #lastTake = 0;
  #trimTimer: NodeJS.Timeout | null = null;

  /**
   * A namespace for one sandbox (give() it back when the sandbox has ended), or -1: make one.
   * The first call only notes that sandboxes are run here: a process that runs one (the CLI)
   * makes no namespace it would not use; from the second on, the pool fills.
   */
  take(): number {
    if (this.#off) return -1;
    if (!this.#used) {
      this.#used = true;
      return -1;
    }
    this.#lastTake = Date.now();
    const fd = this.#free.pop() ?? -1;
    this.#fill();
    return fd;
  }

  /**
   * A namespace back from its sandbox, which has ended: lent again when the sandbox's init found
   * it empty (`empty`, read from its report once everything else had ended), else closed.
   */
  give(fd: number, empty: boolean): void {
    if (empty && !this.#off) {
      this.#free.push(fd);
      if (this.#free.length > READY) this.#armTrim(IDLE_TRIM_MS);
      return;
    }
    native().close(fd);
    this.#owned--;
    this.#fill();
  }

  /** No more lending: every namespace it holds is closed (as each lent one comes back). */
  turnOff(): void {
    this.#off = true;
    this.#closeFree(0);
  }

  /**
   * Counts, for tests and benchmarks: `fds` namespaces the pool has certainly open, `owned` those
   * plus the ones being made (whose fd may already be open on the thread pool).
   */
  stats(): { free: number; fds: number; owned: number; off: boolean } {
    return { free: this.#free.length, fds: this.#owned - this.#making, owned: this.#owned, off: this.#off };
  }

  /** Closes free namespaces until `keep` are left. */
  #closeFree(keep: number): void {
    const addon = native();
    while (this.#free.length > keep) {
      addon.close(this.#free.shift()!);
      this.#owned--;
    }
  }

  #armTrim(delayMs: number): void {
    if (this.#trimTimer !== null) return;
    this.#trimTimer = setTimeout(() => {
      this.#trimTimer = null;
      const idleMs = Date.now() - this.#lastTake;
      if (idleMs < IDLE_TRIM_MS) return this.#armTrim(IDLE_TRIM_MS - idleMs);
      this.#closeFree(READY);
    }, delayMs);
    this.#trimTimer.unref(); // never what keeps a process alive
  }

  #fill(): void {
    const addon = native();
    while (!this.#off && this.#free.length + this.#making < READY && this.#owned < MAX_OWNED) {
      this.#making++;
      this.#owned++;
      addon.netnsCreate((fd) => {
        this.#making--;
        if (fd >= 0) {
          this.#failures = 0;
          if (this.#off) {
            addon.close(fd);
            this.#owned--;
          } else {
            this.#free.push(fd);
          }
          return;
        }
        this.#owned--;
        this.#failures++;
        if (-fd === constants.errno.EPERM || this.#failures >= MAX_FAILURES) this.#off = true;
      });
    }
  }
}

let pool: NetnsPool | null = null;

/** The process's pool (fds belong to the process, so there is one). */
export function netnsPool(): NetnsPool {
  pool ??= new NetnsPool();
  return pool;
}
