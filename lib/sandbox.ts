// The Sandbox class: reusable configuration; run() and spawn() start one sandboxed command each.
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { cgroupManager, CgroupReserve, sweepStaleCgroups, type MemorySplit, type SandboxCgroup } from './cgroup/index.js';
import { SandboxError } from './errors.js';
import { setupError } from './failure.js';
import { checkFdBudget, LAUNCH_FDS, WARM_RUN_FDS, WARM_SANDBOX_FDS } from './fd-budget.js';
import { native, TERMINATE_SIGNAL, type NativeExitReport } from './native.js';
import { setLongTimeout, type LongTimer } from './long-timer.js';
import { netnsPool } from './netns-pool.js';
import type { RunOptions, SandboxOptions } from './options.js';
import { buildResult, type LimitKill } from './outcome.js';
import { Namespace, type NativePlan } from './native-plan.js';
import { applyImage, imageArgv } from './image/apply.js';
import { needsFlatTree } from './image/root.js';
import { storeSource } from './image/source.js';
import { buildPlan, INSIDE_GID, INSIDE_UID } from './plan.js';
import type { AppliedLimits, Enforcement, RunResult } from './result.js';
import { checkRootfs } from './rootfs/directory.js';
import { buildSeccompProgram } from './seccomp/index.js';
import { nullFd, setupStdio } from './stdio.js';
import { subordinateMaps, writeSubordinateMaps } from './subids.js';
import { applyRunOptions, checkArgv, resolveOptions, type ResolvedConfig } from './validate.js';
import { poolRefusal, WarmPool } from './warm-pool.js';

/** How long init gets to kill everything and report before it is SIGKILLed itself. */
const TERMINATE_GRACE_MS = 2000;
/** How long setup may take before a wall-time limit counts it against the run. */
const SETUP_ALLOWANCE_MS = 5000;
/** memory.stat samples while the command runs: the first this long after its execve, then doubling up to the max. */
const MEMORY_SAMPLE_FIRST_MS = 5;
const MEMORY_SAMPLE_MAX_MS = 250;
/**
 * The most cgroups a pool keeps made ahead of its runs (lib/cgroup/reserve.ts). Each empty one holds
 * ~140 KiB of kernel memory on cgroup v1 with 2 CPUs (more with more CPUs: per-CPU counters), and
 * one is made in well under a run's time, so a few cover a pool of any size.
 */
const MAX_CGROUPS_AHEAD = 8;

export interface SandboxProcess {
  /** The host pid of the sandbox's init (pid 1 inside; a warm sandbox's init serves one run after another). */
  readonly pid: number;
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /** Sends a signal to the command (SIGKILL ends the whole sandbox). */
  kill(signal?: NodeJS.Signals | number): void;
  /** The RunResult; rejects with SandboxError when the sandbox could not be set up. */
  readonly result: Promise<RunResult>;
}

export class Sandbox {
  #config: ResolvedConfig;
  /** The image's flattened tree being made, where overlayfs is refused (lib/image/root.ts); null: nothing to wait for. */
  #flattening: Promise<void> | null = null;
  #seccomp: { key: string; program: Buffer | null } | null = null;
  readonly #pool: WarmPool | null = null;
  /** With a pool and limits: its runs' cgroups, made ahead (lib/cgroup/reserve.ts). */
  #reserve: CgroupReserve | null = null;
  /** Why the pool's runs have no cgroup, once the reserve found none. */
  #noReserveReason: string | null = null;

  constructor(options: SandboxOptions = {}) {
    this.#config = resolveOptions(options);
    if (this.#config.rootfs !== null) checkRootfs(this.#config.rootfs);
    const image = this.#config.image;
    if (image !== null) {
      const resolved = typeof image.ref === 'string' ? storeSource.resolve(image.ref) : image.ref;
      this.#config = applyImage(this.#config, resolved, options.cwd !== undefined);
      const run = this.#config.imageRun!;
      if (needsFlatTree(run)) {
        this.#flattening = storeSource.flatten(resolved.ref).then((flat) => {
          this.#config = { ...this.#config, imageRun: { ...run, image: { ...run.image, flat } } };
          this.#flattening = null;
        });
        // Reported by warm() and run(); never an unhandled rejection.
        this.#flattening.catch(() => {});
      }
    }
    if (this.#config.pool > 0) {
      const refusal = poolRefusal(this.#config);
      if (refusal !== null) throw new SandboxError(`options.pool: ${refusal}`, { stage: 'options' });
      this.#pool = new WarmPool(this.#config.pool, () => this.#memberPlan());
    }
  }

  /** `new Sandbox({ ...options, pool: n })`: a configuration with `n` warm sandboxes. */
  static pool(n: number, options: SandboxOptions = {}): Sandbox {
    return new Sandbox({ ...options, pool: n });
  }

  /**
   * Makes what runs need ahead: an image's flattened tree where overlayfs is refused (spawn() needs
   * it made; run() waits for it itself), and the warm sandboxes of the `pool` option, and resolves when all are ready (they are
   * otherwise built at the first run, which then builds its own). Rejects with the SandboxError
   * that keeps them from being built.
   */
  async warm(): Promise<void> {
    if (this.#flattening !== null) await this.#flattening;
    if (this.#pool === null) return;
    this.#checkFds();
    await this.#pool.ready();
  }

  /** A pool whose sandboxes could not all run at once under RLIMIT_NOFILE is refused (lib/fd-budget.ts). */
  #checkFds(): void {
    const c = this.#config;
    const reserve = wantsCgroup(c) ? this.#reserveOf() : null;
    const ahead = reserve?.fds() ?? 0;
    const need = c.pool * (WARM_SANDBOX_FDS + WARM_RUN_FDS) + ahead + LAUNCH_FDS;
    const parts =
      `${WARM_SANDBOX_FDS} per sandbox, ${WARM_RUN_FDS} per run on it` + (ahead > 0 ? `, ${ahead} for the cgroups made ahead of runs` : '');
    checkFdBudget(need, `a pool of ${c.pool} warm sandboxes (${parts})`);
  }

  /** Ends the warm sandboxes (busy ones when their run ends). Runs after close() build their own. */
  async close(): Promise<void> {
    await this.#pool?.close();
    await this.#reserve?.close();
  }

  /** A warm sandbox's plan: the sandbox as configured, no command, its own network namespace. */
  #memberPlan() {
    // The cgroup parent is prepared before the member's init exists: on cgroup v2 that may move this
    // process into a leaf so the parent can enable controllers, which is refused while other
    // processes (an init started here first) sit in the parent. Its runs' cgroups, one new per
    // run, are made ahead of them.
    if (wantsCgroup(this.#config)) this.#reserveOf()?.fill();
    const none = nullFd();
    return {
      ...buildPlan({
        argv: ['sandbox-init'],
        cfg: this.#config,
        stdio: [none, none, none],
        seccomp: null,
        cgroupFd: -1,
        cgroupProcs: [],
        cgroupEnforced: false,
        callerUid: process.getuid?.() ?? 0,
        callerGid: process.getgid?.() ?? 0,
        netnsFd: -1,
      }),
      serveRuns: true,
    };
  }

  /**
   * The pool's cgroup reserve, made at the first call (which prepares the cgroup parent); null
   * without a usable cgroup (a run then falls back, or fails, in openCgroup).
   */
  #reserveOf(): CgroupReserve | null {
    if (this.#reserve === null) {
      const found = cgroupManager({ parent: this.#config.cgroupParent });
      if (found.manager === null) {
        this.#noReserveReason = found.reason;
        return null;
      }
      const manager = found.manager;
      const c = this.#config;
      // A warm sandbox's init is not in its runs' cgroups: one fewer there keeps `pids` counting
      // the init, as a one-shot run's cgroup does (lib/options.ts).
      const limits = { cpuQuota: c.cpuQuota, memoryBytes: c.memoryBytes, pids: warmPids(c.pids) };
      this.#reserve = new CgroupReserve(manager, limits, Math.min(c.pool, MAX_CGROUPS_AHEAD));
    }
    return this.#reserve;
  }

  /** Runs `argv` to its end. stdout and stderr are captured into the result unless redirected. */
  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    if (this.#flattening !== null) return this.#flattening.then(() => this.run(argv, options));
    if (this.#pool?.soonIdle()) return this.#runWhenIdle(argv, options);
    try {
      return this.#start(argv, options, true).result;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** run() once a warm sandbox being reset is idle (another caller may take it first: then the next). */
  async #runWhenIdle(argv: string[], options: RunOptions): Promise<RunResult> {
    while (this.#pool!.soonIdle()) await this.#pool!.whenIdle();
    return this.#start(argv, options, true).result;
  }

  /** Starts `argv` and returns at once, with streams for the stdio asked as 'pipe'. */
  spawn(argv: string[], options: RunOptions = {}): SandboxProcess {
    return this.#start(argv, options, false);
  }

  /** Sends the run to the idle warm sandbox `pid`; one that cannot take it is ended. */
  #runWarm(
    pid: number,
    plan: NativePlan,
    onExit: (e: NativeExitReport) => void,
    onStart: (startNs: number, cpuUs: number) => void,
  ): number {
    try {
      native().runIn(pid, plan, onExit, onStart);
    } catch (e) {
      this.#pool!.discard(pid);
      throw e;
    }
    return pid;
  }

  #program(cfg: ResolvedConfig): Buffer | null {
    const key = JSON.stringify(cfg.seccomp);
    if (this.#seccomp === null || this.#seccomp.key !== key) {
      this.#seccomp = { key, program: buildSeccompProgram(cfg.seccomp) };
    }
    return this.#seccomp.program;
  }

  #start(argvIn: string[], options: RunOptions, capture: boolean): SandboxProcess {
    // What a killed process left: its cgroups go at the next start, with limits or without.
    sweepStaleCgroups(this.#config.cgroupParent);
    const cfg = applyRunOptions(this.#config, options);
    // In an image, the command is Entrypoint + (argv, else Cmd); argv may be empty.
    const argv =
      cfg.imageRun === null
        ? checkArgv(argvIn)
        : imageArgv(cfg.imageRun, Array.isArray(argvIn) && argvIn.length === 0 ? [] : checkArgv(argvIn));
    const abortSignal = options.signal;
    if (abortSignal !== undefined && !(abortSignal instanceof AbortSignal)) {
      throw new SandboxError(`Expected an AbortSignal for runOptions.signal but received ${typeof abortSignal}`, { stage: 'options' });
    }
    if (abortSignal?.aborted)
      throw new SandboxError('the run was aborted before it started', { stage: 'aborted', cause: abortSignal.reason });
    const seccomp = this.#program(cfg);
    const limits: AppliedLimits = {
      cpuQuota: cfg.cpuQuota,
      memoryBytes: cfg.memoryBytes,
      pids: cfg.pids,
      timeLimitMs: cfg.timeLimitMs,
      wallTimeLimitMs: cfg.wallTimeLimitMs,
      outputLimitBytes: cfg.outputLimitBytes,
    };
    // A warm sandbox, when one is idle and this run's options keep to its filesystem (the cwd).
    // Not with `pids: 1`: only the init fits, which a one-shot run says (fork: EAGAIN) and a
    // run's cgroup without its warm init could not (pids.max 0 does not stop the command joining).
    const warmPid = this.#pool !== null && cfg.cwd === this.#config.cwd && cfg.pids !== 1 ? this.#pool.take() : null;
    let opened: { cgroup: SandboxCgroup | null; reason: string | null };
    try {
      // The reserve's cgroups are for warm runs (their pids.max leaves the init out).
      const reserve = warmPid !== null && wantsCgroup(this.#config) ? this.#reserveOf() : null;
      opened = reserve !== null ? { cgroup: reserve.take(), reason: null } : openCgroup(cfg);
    } catch (e) {
      if (warmPid !== null) this.#pool!.putBack(warmPid);
      throw e;
    }
    const cgroup = opened.cgroup;
    const noCgroupReason = cgroup === null ? (opened.reason ?? this.#noReserveReason) : null;
    const enforcement: Enforcement = cgroup === null ? 'rlimit' : cgroup.mode;
    // The manager is cached: asking again names the way its parent was chosen.
    const via = cgroup === null ? null : (cgroupManager({ parent: this.#config.cgroupParent }).manager?.via ?? null);
    const cgroupFigure = cgroup === null || via === null ? null : { dir: cgroup.paths[0]!, via };
    let stdio;
    try {
      stdio = setupStdio({
        stdin: options.stdin ?? (capture ? 'ignore' : 'pipe'),
        stdout: options.stdout ?? 'pipe',
        stderr: options.stderr ?? 'pipe',
        capture,
        outputLimit: cfg.outputLimitBytes,
        tty: cfg.tty,
      });
    } catch (e) {
      if (warmPid !== null) this.#pool!.putBack(warmPid);
      void cgroup?.destroy();
      throw setupError(e);
    }
    let plan;
    let subordinate;
    // Lent until the sandbox has ended (lib/netns-pool.ts); -1: init makes its own.
    let netnsFd = cfg.network === 'none' && warmPid === null ? netnsPool().take() : -1;
    const returnNetns = (empty: boolean) => {
      if (netnsFd >= 0) netnsPool().give(netnsFd, empty);
      netnsFd = -1;
    };
    try {
      plan = buildPlan({
        argv,
        cfg,
        stdio: stdio.childFds,
        seccomp,
        cgroupFd: cgroup?.fd ?? -1,
        cgroupProcs: cgroup?.join ?? [],
        cgroupEnforced: cgroup !== null,
        callerUid: process.getuid?.() ?? 0,
        callerGid: process.getgid?.() ?? 0,
        netnsFd,
        withoutMounts: warmPid !== null,
      });
      subordinate = plan.deferRelease && warmPid === null ? subordinateMaps(INSIDE_UID, INSIDE_GID) : null;
    } catch (e) {
      if (warmPid !== null) this.#pool!.putBack(warmPid);
      stdio.abort();
      void cgroup?.destroy();
      returnNetns(true); // never entered
      throw e;
    }
    const addon = native();
    const launchOne = (p: NativePlan): number => {
      try {
        return addon.launch(p, resolveExit, onLaunched).pid;
      } catch (e) {
        // This thread may no longer enter the pool's namespaces (the process dropped its
        // capabilities since they were made): the pool is turned off and init makes its own.
        if (netnsFd < 0 || (e as { stage?: unknown }).stage !== 'network') throw e;
        netnsPool().turnOff();
        returnNetns(false);
        return addon.launch({ ...p, netnsFd: -1, namespaces: p.namespaces | Namespace.net }, resolveExit, onLaunched).pid;
      }
    };
    let resolveExit!: (e: NativeExitReport) => void;
    const exited = new Promise<NativeExitReport>((r) => (resolveExit = r));
    let pid: number;
    const launchedAt = addon.monotonicNs();
    let onStart: (startNs: number) => void = () => {};
    // init's own setup runs in the cgroup too; the CPU-time limit is the program's alone.
    let initCpuUs = 0;
    // memory.stat is sampled while the command runs: after it ends its memory is freed and the
    // anon/file split reads 0. 5 ms after the execve, then at doubling intervals up to 250 ms.
    let split: MemorySplit | null = null;
    let splitTimer: NodeJS.Timeout | null = null;
    const sampleMemory = (delayMs: number): void => {
      splitTimer = setTimeout(() => {
        splitTimer = null;
        if (ended || cgroup === null) return;
        try {
          const now = cgroup.memorySplit();
          if (now !== null && (split === null || now.anonBytes + now.fileBytes > split.anonBytes + split.fileBytes)) split = now;
        } catch {
          return; // the cgroup is going away
        }
        sampleMemory(Math.min(delayMs * 2, MEMORY_SAMPLE_MAX_MS));
      }, delayMs);
    };
    const onLaunched = (startNs: number, initUs: number) => {
      initCpuUs = initUs;
      if (cgroup !== null) sampleMemory(MEMORY_SAMPLE_FIRST_MS);
      onStart(startNs);
    };
    try {
      pid = warmPid !== null ? this.#runWarm(warmPid, plan, resolveExit, onLaunched) : launchOne(plan);
    } catch (e) {
      stdio.abort();
      void cgroup?.destroy();
      returnNetns(false); // the clone may have happened
      throw setupError(e);
    }
    cgroup?.joined();
    for (const fd of stdio.childSide) addon.close(fd);
    // Closed: a later abort() must not close these numbers again, another run may hold them now.
    stdio.childSide.length = 0;

    let killedFor: LimitKill | null = null;
    let ended = false;
    let graceTimer: NodeJS.Timeout | null = null;
    const terminate = (reason: LimitKill | null) => {
      if (ended) return;
      if (killedFor === null && reason !== null) killedFor = reason;
      addon.signal(pid, TERMINATE_SIGNAL);
      graceTimer ??= setTimeout(() => {
        cgroup?.kill();
        addon.signal(pid, constants.signals.SIGKILL);
      }, TERMINATE_GRACE_MS);
    };
    // Long timers (lib/long-timer.ts): a limit up to the documented maximum plus the setup
    // allowance would overflow a single Node timer.
    const timers: LongTimer[] = [];
    if (cfg.wallTimeLimitMs !== null) {
      // The limit counts from the command's execve (as wallTimeMs does): armed when init reports
      // it, with a backstop from launch in case setup itself hangs (e.g. a bind of a dead NFS mount).
      const limitMs = cfg.wallTimeLimitMs;
      const backstop = setLongTimeout(() => terminate('wall-time-limit'), limitMs + SETUP_ALLOWANCE_MS);
      timers.push(backstop);
      onStart = (startNs) => {
        backstop.clear();
        const elapsedMs = (addon.monotonicNs() - startNs) / 1e6;
        timers.push(setLongTimeout(() => terminate('wall-time-limit'), Math.max(0, limitMs - elapsedMs)));
      };
    }
    let cpuPoll: NodeJS.Timeout | null = null;
    if (cfg.timeLimitMs !== null && cgroup !== null) {
      const limitUs = cfg.timeLimitMs * 1000;
      const check = () => {
        cpuPoll = null;
        if (ended) return;
        let used = 0;
        try {
          used = cgroup.cpuUsageUs() - initCpuUs;
        } catch {
          return;
        }
        if (used >= limitUs) return terminate('cpu-time-limit');
        // The tree can burn at most one core-second per second per CPU: check again before
        // the remaining budget could be spent, at least every 100 ms, at most every 2 ms.
        const remainingMs = (limitUs - used) / 1000;
        cpuPoll = setTimeout(check, Math.max(2, Math.min(100, remainingMs / 4)));
      };
      cpuPoll = setTimeout(check, Math.max(2, Math.min(100, cfg.timeLimitMs / 4)));
    }
    const onAbort = () => terminate(null);
    abortSignal?.addEventListener('abort', onAbort, { once: true });
    stdio.start(() => terminate('output-limit'));

    // With subordinate ids the init waits until newuidmap/newgidmap have written its maps.
    const mapped =
      subordinate === null
        ? Promise.resolve(null)
        : writeSubordinateMaps(pid, subordinate).then(
            () => (addon.release(pid, true), null),
            (e: unknown) => (addon.release(pid, false), e),
          );

    const result = (async (): Promise<RunResult> => {
      const mapError = await mapped;
      const exit = await exited;
      ended = true;
      if (warmPid !== null) this.#pool!.runEnded(warmPid);
      // The init has been reaped, and with it everything in its pid namespace.
      returnNetns(exit.netnsEmpty);
      const endedAt = addon.monotonicNs();
      for (const t of timers) t.clear();
      if (cpuPoll !== null) clearTimeout(cpuPoll);
      if (graceTimer !== null) clearTimeout(graceTimer);
      if (splitTimer !== null) clearTimeout(splitTimer);
      abortSignal?.removeEventListener('abort', onAbort);
      let usage = null;
      if (cgroup !== null) {
        // Read and removed in one job on the addon's lane. No kill() here: init has been reaped, and
        // with it everything in its pid namespace, which is everything in the cgroup; a removal
        // that finds tasks there (EBUSY) still kills them.
        usage = await cgroup.end();
        const seen = split as MemorySplit | null;
        if (usage !== null && seen !== null && seen.anonBytes + seen.fileBytes > (usage.anonBytes ?? 0) + (usage.fileBytes ?? 0)) {
          usage = { ...usage, ...seen };
        }
      }
      if (mapError !== null) {
        stdio.abort();
        throw mapError;
      }
      if (exit.error !== null) {
        stdio.abort();
        throw setupError(exit.error);
      }
      await stdio.drained;
      if (abortSignal?.aborted && killedFor === null) {
        // An abort is the caller's decision, not a verdict about the program.
        throw new SandboxError('the run was aborted', { stage: 'aborted', cause: abortSignal.reason });
      }
      return buildResult({
        exit,
        killedFor,
        usage,
        enforcement,
        cgroup: cgroupFigure,
        limits,
        noCgroupReason,
        fallbackWallMs: (exit.startNs > 0 ? endedAt - exit.startNs : endedAt - launchedAt) / 1e6,
        stdout: stdio.out.chunks === null ? null : Buffer.concat(stdio.out.chunks),
        stderr: stdio.err.chunks === null ? null : Buffer.concat(stdio.err.chunks),
        outputBytes: { stdout: stdio.out.bytes, stderr: stdio.err.bytes },
      });
    })();

    return {
      pid,
      stdin: stdio.stdin,
      stdout: stdio.stdout,
      stderr: stdio.stderr,
      kill(signal: NodeJS.Signals | number = 'SIGTERM') {
        const signo = typeof signal === 'number' ? signal : constants.signals[signal];
        if (signo === undefined)
          throw new SandboxError(`Expected a signal name or number for kill but received ${String(signal)}`, { stage: 'options' });
        if (ended) return;
        if (signo === constants.signals.SIGKILL) terminate(null);
        else addon.signal(pid, signo);
      },
      result,
    };
  }
}

/** pids.max of a warm run's cgroup: `pids` less the warm sandbox's init, which sits outside it. */
function warmPids(pids: number | null): number | null {
  return pids === null ? null : Math.max(1, pids - 1);
}

/** Whether runs of `cfg` are meant to have cgroups (limits on them, or one asked for outright). */
function wantsCgroup(cfg: ResolvedConfig): boolean {
  return cfg.cpuQuota !== null || cfg.memoryBytes !== null || cfg.pids !== null || cfg.timeLimitMs !== null || cfg.requireCgroup;
}

/** The run's cgroup, or null and why there is none (the reason is null when none was wanted). */
function openCgroup(cfg: ResolvedConfig): { cgroup: SandboxCgroup | null; reason: string | null } {
  if (!wantsCgroup(cfg)) return { cgroup: null, reason: null };
  const found = cgroupManager({ parent: cfg.cgroupParent });
  if (found.manager === null) {
    if (cfg.requireCgroup) throw new SandboxError(`no usable cgroup: ${found.reason}`, { stage: 'cgroup' });
    return { cgroup: null, reason: found.reason };
  }
  return { cgroup: found.manager.create({ cpuQuota: cfg.cpuQuota, memoryBytes: cfg.memoryBytes, pids: cfg.pids }), reason: null };
}
