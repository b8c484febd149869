// Warm sandboxes (the `pool` option): sandboxes built once and given runs one at a time.
//
// A one-shot run pays for its namespaces and its filesystem (some 20 mounts made, then torn down
// at its end) every time; a warm sandbox pays once. Its init (csrc/init/serve.cc) forks each
// run's command, which joins the run's own new cgroups, and reaps the run's tree as a one-shot init
// does; after the run, init kills whatever is left, replaces every writable mount and the IPC
// namespace, checks that the network namespace holds nothing (or exits, and this pool starts
// another) and says it is ready. What is reset, and why nothing of one run reaches the next:
// docs/api.md, "Warm sandboxes".
//
// The pool only tracks which members are idle: a member is taken for a run and idle again when
// its init says "ready". An idle member keeps nothing alive: its watchers are unref'd.
import { constants } from 'node:os';
import { SandboxError } from './errors.js';
import { setupError } from './failure.js';
import { native, type NativeExitReport } from './native.js';
import type { NativePlan } from './native-plan.js';
import { INSIDE_GID, INSIDE_UID } from './plan.js';
import { subordinateMaps, writeSubordinateMaps } from './subids.js';
import type { ResolvedConfig } from './validate.js';

/** Members that ended before they were ever ready, in a row, after which the pool stops. */
const MAX_EARLY_EXITS = 3;

/** Why runs of this configuration cannot share a warm sandbox, or null. */
export function poolRefusal(cfg: ResolvedConfig): string | null {
  if (cfg.tty) return 'a tty sandbox gives each run a terminal of its own';
  // The writable layer is the upper of the root's overlay, the mount everything inside stands on:
  // it cannot be replaced between runs the way a tmpfs is, and must not pass from one run to the next.
  if (cfg.writable)
    return 'a writable root is a layer of one run; warm sandboxes share one root between runs (drop writable, or add tmpfs mounts where runs write)';
  // Each tmpfs (and /dev/shm) is replaced between runs: a mount inside one, or on one, would go.
  const replaced = ['/tmp', '/dev/shm', ...cfg.tmpfs.map((t) => t.dst)];
  const mounts = [...cfg.binds.map((b) => b.dst), ...cfg.tmpfs.map((t) => t.dst)];
  for (const dst of mounts) {
    for (const t of replaced) {
      if (dst.startsWith(`${t}/`) || (dst === t && !cfg.tmpfs.some((x) => x.dst === dst))) {
        return `the mount on ${dst} lies in or on ${t}, a tmpfs replaced between runs`;
      }
    }
  }
  return null;
}

interface Member {
  pid: number;
  idle: boolean;
  everReady: boolean;
  /** Its run has ended and its init is resetting it: idle again within a fraction of a millisecond. */
  resetting: boolean;
}

export class WarmPool {
  readonly #size: number;
  readonly #memberPlan: () => NativePlan;
  readonly #members = new Map<number, Member>();
  #closed = false;
  #failure: Error | null = null;
  #earlyExits = 0;
  /** Called whenever a member becomes idle or ends. */
  #waiters: (() => void)[] = [];

  constructor(size: number, memberPlan: () => NativePlan) {
    this.#size = size;
    this.#memberPlan = memberPlan;
  }

  /** An idle member's pid, now busy; null when none is idle (members are started then). */
  take(): number | null {
    for (const m of this.#members.values()) {
      if (m.idle) {
        m.idle = false;
        return m.pid;
      }
    }
    this.#fill();
    return null;
  }

  /** A member's run has ended: it is being reset (see soonIdle()). */
  runEnded(pid: number): void {
    const m = this.#members.get(pid);
    if (m !== undefined && !m.idle) m.resetting = true;
  }

  /**
   * No member is idle but one is being reset after its run: a run that can wait (run(), not the
   * synchronous spawn()) waits for it with whenIdle() rather than build a sandbox of its own,
   * which would cost ten times the reset.
   */
  soonIdle(): boolean {
    let resetting = false;
    for (const m of this.#members.values()) {
      if (m.idle) return false;
      resetting ||= m.resetting;
    }
    return resetting;
  }

  /** Resolves at the next member that becomes idle or ends. */
  whenIdle(): Promise<void> {
    return new Promise<void>((r) => this.#waiters.push(r));
  }

  /** A member taken but not used (the run failed before it was sent). */
  putBack(pid: number): void {
    const m = this.#members.get(pid);
    if (m === undefined) return;
    m.idle = true;
    this.#wake();
  }

  /** A member whose run could not be sent: it is ended, another is started. */
  discard(pid: number): void {
    native().signal(pid, constants.signals.SIGKILL);
  }

  /** Resolves when every member is built and idle; rejects when they cannot be built. */
  async ready(): Promise<void> {
    this.#fill();
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      if (this.#closed) throw new SandboxError('the sandbox was closed', { stage: 'closed' });
      const members = [...this.#members.values()];
      if (members.length >= this.#size && members.every((m) => m.idle)) return;
      await this.whenIdle();
    }
  }

  /** Ends every member: idle ones now, busy ones when their run has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const m of this.#members.values()) {
      if (m.idle || !m.everReady) native().signal(m.pid, constants.signals.SIGKILL);
    }
    while (this.#members.size > 0) await this.whenIdle();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #fill(): void {
    while (!this.#closed && this.#failure === null && this.#members.size < this.#size) {
      try {
        this.#start();
      } catch (e) {
        this.#failure = setupError(e);
        this.#wake();
      }
    }
  }

  #start(): void {
    const addon = native();
    const plan = this.#memberPlan();
    const maps = plan.deferRelease ? subordinateMaps(INSIDE_UID, INSIDE_GID) : null;
    const member: Member = { pid: -1, idle: false, everReady: false, resetting: false };
    const onExit = (exit: NativeExitReport) => {
      this.#members.delete(member.pid);
      if (!member.everReady) {
        if (exit.error !== null) this.#failure ??= setupError(exit.error);
        else if (++this.#earlyExits >= MAX_EARLY_EXITS && !this.#closed) {
          this.#failure ??= new SandboxError('warm sandboxes keep ending before they are ready', { stage: 'pool' });
        }
      }
      this.#wake();
      // One retired (its network namespace was not empty) or killed: start another, later.
      if (!this.#closed && this.#failure === null) setImmediate(() => this.#fill());
    };
    const onReady = () => {
      member.everReady = true;
      this.#earlyExits = 0;
      if (this.#closed) {
        addon.signal(member.pid, constants.signals.SIGKILL);
        return;
      }
      member.idle = true;
      member.resetting = false;
      this.#wake();
    };
    member.pid = addon.launch(plan, onExit, onReady).pid;
    this.#members.set(member.pid, member);
    if (maps !== null) {
      writeSubordinateMaps(member.pid, maps).then(
        () => addon.release(member.pid, true),
        (e: unknown) => {
          addon.release(member.pid, false);
          this.#failure ??= setupError(e);
          this.#wake();
        },
      );
    }
  }
}
