// The sandboxes a Sandbox's runs are sent to. Every run is sent to a sandbox's init (a Member
// here), which serves runs one after another (csrc/init/serve.cc): a sandbox used once is one
// started for the run and told at once that no run follows (native finish()); a warm one is
// reset by its init after each run and kept for the next.
//
// Which are kept: the `pool` option's members for as long as the Sandbox lives (remade when one
// ends); beyond them, a sandbox a run used is kept idle for `idleMs` after its run (so a loop of
// runs, or N callers at once, reuse as many as they use), then ended. A kept sandbox keeps
// nothing alive: its watchers are unref'd while idle, and the addon ends it when Node exits. What
// is reset between runs, and why nothing of one run reaches the next: docs/api.md, "Warm
// sandboxes".
import { SandboxError } from './errors.js';
import { setupError } from './setup-error.js';
import { native, type NativeRunEnd, type NativeSandboxEnd } from './native.js';
import type { NativePlan } from './native-plan.js';
import { netnsPool } from './netns-pool.js';
import { INSIDE_GID, INSIDE_UID } from './build-plan.js';
import { sandboxInits } from './cgroup/sandbox-inits.js';
import { subordinateMaps, writeSubordinateMaps } from './subids.js';
import type { ResolvedConfig } from './validate.js';

/** Pool members that ended before they were ever ready, in a row, after which the pool stops. */
const MAX_EARLY_EXITS = 3;

/** Why runs of this configuration cannot share a sandbox, or null. */
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

/** A sandbox's plan, given the network namespace lent to it (-1: init makes its own). */
export type PlanFor = (netnsFd: number) => NativePlan;

/** One sandbox: its init, which serves the runs sent to it. */
export class Member {
  pid = -1;
  /** "ready"s said (built, then reset after each run) and runs sent: idle when it said more. */
  readies = 0;
  runsSent = 0;
  /** Kept by the pool between runs (a pool member, or kept warm for a while). */
  readonly reused: boolean;
  /** Counts toward the `pool` option's members. */
  readonly pooled: boolean;
  /** Told it takes no more runs (finish()), or ended. */
  finishing = false;
  /** Why it could not be set up from here (its id maps), else null: its end says the rest. */
  failure: Error | null = null;
  /** Resolves when its init has been reaped. */
  readonly ended: Promise<NativeSandboxEnd>;
  resolveEnded!: (end: NativeSandboxEnd) => void;
  /** A network namespace lent to it, and whether its last run left that namespace empty. */
  netnsFd = -1;
  netnsClean = true;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(reused: boolean, pooled: boolean) {
    this.reused = reused;
    this.pooled = pooled;
    this.ended = new Promise((r) => (this.resolveEnded = r));
  }

  get idle(): boolean {
    return !this.finishing && this.readies > this.runsSent;
  }

  /** Its last run has ended but it has not said "ready" since: it is being reset. */
  get resetting(): boolean {
    return !this.finishing && this.readies === this.runsSent && this.runsSent > 0;
  }
}

export interface PoolOptions {
  /** The `pool` option: members kept for the Sandbox's life. */
  size: number;
  /** How long a sandbox beyond them is kept idle after its run (0: none is). */
  idleMs: number;
  /** Whether sandboxes get a network namespace lent from lib/netns-pool.ts (network 'none'). */
  lendNetns: boolean;
}

export class WarmPool {
  readonly #o: PoolOptions;
  readonly #memberPlan: PlanFor;
  readonly #members = new Set<Member>();
  #closed = false;
  #failure: Error | null = null;
  #earlyExits = 0;
  /** Called whenever a member becomes idle or ends. */
  #waiters: (() => void)[] = [];

  constructor(o: PoolOptions, memberPlan: PlanFor) {
    this.#o = o;
    this.#memberPlan = memberPlan;
  }

  /** Whether a run may go to a kept sandbox (else it gets one of its own, used once). */
  get keeps(): boolean {
    return !this.#closed && (this.#o.size > 0 || this.#o.idleMs > 0);
  }

  /** An idle kept sandbox, now busy; null when none is idle (the pool's members are started then). */
  take(): Member | null {
    for (const m of this.#members) {
      if (m.idle) {
        if (m.idleTimer !== null) clearTimeout(m.idleTimer);
        m.idleTimer = null;
        m.runsSent++;
        return m;
      }
    }
    return null;
  }

  /** A new kept sandbox for a run about to be sent to it, busy; the pool's other members are started too. */
  startKept(plan: PlanFor): Member {
    const pooled = this.#pooledCount() < this.#o.size;
    const m = this.#start(plan, true, pooled);
    m.runsSent++;
    this.#fill();
    return m;
  }

  /** A new sandbox for one run (the caller finishes it once the run is sent). */
  startOnce(plan: PlanFor): Member {
    const m = this.#start(plan, false, false);
    m.runsSent++;
    return m;
  }

  /** A run on `m` has ended: whether it left a lent network namespace empty (init's check, in its report). */
  runEnded(m: Member, end: NativeRunEnd): void {
    m.netnsClean = end.commandExited && end.netnsEmpty;
  }

  /** A sandbox whose run could not be sent: it is ended. */
  discard(m: Member): void {
    m.finishing = true;
    native().signal(m.pid, 9);
  }

  /** Tells a sandbox it takes no more runs: it ends once its last run has (its run, if one was sent). */
  finish(m: Member): void {
    if (m.finishing) return;
    m.finishing = true;
    if (m.idleTimer !== null) clearTimeout(m.idleTimer);
    m.idleTimer = null;
    native().finish(m.pid);
  }

  /**
   * No sandbox is idle but one is being reset after its run: a run that can wait (run(), not the
   * synchronous spawn()) waits for it with whenIdle() rather than build a sandbox of its own,
   * which would cost ten times the reset.
   */
  soonIdle(): boolean {
    let resetting = false;
    for (const m of this.#members) {
      if (!m.reused) continue;
      if (m.idle) return false;
      resetting ||= m.resetting;
    }
    return resetting;
  }

  /** Resolves at the next sandbox that becomes idle or ends. */
  whenIdle(): Promise<void> {
    return new Promise<void>((r) => this.#waiters.push(r));
  }

  /** Resolves when every pool member is built and idle; rejects when they cannot be built. */
  async ready(): Promise<void> {
    this.#fill();
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      if (this.#closed) throw new SandboxError('the sandbox was closed', { stage: 'closed' });
      const members = [...this.#members].filter((m) => m.pooled);
      if (members.length >= this.#o.size && members.every((m) => m.idle)) return;
      await this.whenIdle();
    }
  }

  /** Ends every sandbox: idle ones now, busy ones when their run has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const m of this.#members) this.finish(m);
    while (this.#members.size > 0) await this.whenIdle();
  }

  #pooledCount(): number {
    let n = 0;
    for (const m of this.#members) if (m.pooled) n++;
    return n;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #fill(): void {
    while (!this.#closed && this.#failure === null && this.#pooledCount() < this.#o.size) {
      try {
        this.#start(this.#memberPlan, true, true);
      } catch (e) {
        this.#failure = setupError(e);
        this.#wake();
      }
    }
  }

  /** Launches a sandbox (its plan with a lent network namespace where one is to be had). */
  #launch(m: Member, planFor: PlanFor, onExit: (end: NativeSandboxEnd) => void, onReady: (n: number) => void): NativePlan {
    const addon = native();
    m.netnsFd = this.#o.lendNetns ? netnsPool().take() : -1;
    const plan = planFor(m.netnsFd);
    try {
      m.pid = addon.launch(plan, onExit, onReady).pid;
    } catch (e) {
      // This thread may no longer enter the pool's namespaces (the process dropped its
      // capabilities since they were made): the pool is turned off and init makes its own.
      if (m.netnsFd < 0 || (e as { stage?: unknown }).stage !== 'network') {
        if (m.netnsFd >= 0) netnsPool().give(m.netnsFd, true); // never entered
        m.netnsFd = -1;
        throw e;
      }
      netnsPool().turnOff();
      netnsPool().give(m.netnsFd, false);
      m.netnsFd = -1;
      m.pid = addon.launch(planFor(-1), onExit, onReady).pid;
    }
    return plan;
  }

  #start(planFor: PlanFor, reused: boolean, pooled: boolean): Member {
    const addon = native();
    const m = new Member(reused, pooled);
    const onExit = (end: NativeSandboxEnd) => {
      this.#members.delete(m);
      sandboxInits.delete(m.pid);
      if (m.idleTimer !== null) clearTimeout(m.idleTimer);
      // Everything of it has been reaped: a lent namespace goes back, for reuse when init left it empty.
      if (m.netnsFd >= 0) netnsPool().give(m.netnsFd, m.netnsClean && end.exitCode === 0);
      m.netnsFd = -1;
      if (pooled && m.readies === 0) {
        if (end.error !== null) this.#failure ??= setupError(end.error);
        else if (++this.#earlyExits >= MAX_EARLY_EXITS && !this.#closed) {
          this.#failure ??= new SandboxError('warm sandboxes keep ending before they are ready', { stage: 'pool' });
        }
      }
      m.finishing = true;
      m.resolveEnded(end);
      this.#wake();
      // A pool member retired (its network namespace was not empty) or killed: another, later.
      if (pooled && !this.#closed && this.#failure === null) setImmediate(() => this.#fill());
    };
    const onReady = (n: number) => {
      m.readies += n;
      if (pooled) this.#earlyExits = 0;
      if (!m.idle) return;
      if (this.#closed) this.finish(m);
      else if (!pooled) {
        m.idleTimer = setTimeout(() => this.finish(m), this.#o.idleMs);
        m.idleTimer.unref();
      }
      this.#wake();
    };
    const plan = this.#launch(m, planFor, onExit, onReady);
    this.#members.add(m);
    sandboxInits.add(m.pid);
    if (plan.deferRelease) {
      let maps;
      try {
        maps = subordinateMaps(INSIDE_UID, INSIDE_GID);
      } catch (e) {
        addon.release(m.pid, false);
        m.failure = setupError(e);
        if (pooled) this.#failure ??= m.failure;
        return m;
      }
      writeSubordinateMaps(m.pid, maps).then(
        () => addon.release(m.pid, true),
        (e: unknown) => {
          addon.release(m.pid, false);
          m.failure = setupError(e);
          if (pooled) this.#failure ??= m.failure;
          this.#wake();
        },
      );
    }
    return m;
  }
}
