// The Sandbox class: reusable configuration; run() and spawn() start one sandboxed command each.
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { cgroupManager, CgroupReserve, sweepStaleCgroups, type SandboxCgroup } from './cgroup/index.js';
import { SandboxError } from './errors.js';
import { checkFdBudget, LAUNCH_FDS, openFileLimit, WARM_RUN_FDS, WARM_SANDBOX_FDS } from './fd-budget.js';
import type { NativePlan } from './native-plan.js';
import type { RunOptions, SandboxOptions } from './options.js';
import { applyImage, imageArgv } from './image/apply.js';
import { needsFlatTree } from './image/root.js';
import { storeSource } from './image/source.js';
import { buildPlan } from './build-plan.js';
import type { AppliedLimits, RunResult } from './result.js';
import { checkRootfs } from './rootfs/directory.js';
import { Run } from './run.js';
import { buildSeccompProgram } from './seccomp/index.js';
import { nullFd } from './stdio.js';
import { applyRunOptions, checkArgv, resolveOptions, type ResolvedConfig } from './validate.js';
import { poolRefusal, WarmPool, type Member } from './warm-pool.js';

/**
 * The most cgroups a pool keeps made ahead of its runs (lib/cgroup/reserve.ts). Each empty one holds
 * ~140 KiB of kernel memory on cgroup v1 with 2 CPUs (more with more CPUs: per-CPU counters), and
 * one is made in well under a run's time, so a few cover a pool of any size.
 */
const MAX_CGROUPS_AHEAD = 8;

export interface SandboxProcess {
  /** The host pid of the sandbox's init (pid 1 inside; it serves one run after another). */
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
  readonly #pool: WarmPool;
  /** Why runs of this configuration cannot share a sandbox (each gets one used once), or null. */
  readonly #refusal: string | null;
  /** With a pool and limits: its runs' cgroups, made ahead (lib/cgroup/reserve.ts). */
  #reserve: CgroupReserve | null = null;

  constructor(options: SandboxOptions = {}) {
    this.#config = resolveOptions(options);
    // Read while fds are free, so that a run failing at the limit can name it (fd-budget.ts).
    openFileLimit();
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
    this.#refusal = poolRefusal(this.#config);
    if (this.#config.pool > 0 && this.#refusal !== null) throw new SandboxError(`options.pool: ${this.#refusal}`, { stage: 'options' });
    const c = this.#config;
    const idleMs = this.#refusal === null ? c.idleTimeoutMs : 0;
    this.#pool = new WarmPool({ size: c.pool, idleMs, lendNetns: c.network === 'none' }, (netnsFd) => this.#memberPlan(netnsFd));
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
    if (this.#config.pool === 0) return;
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
    await this.#pool.close();
    await this.#reserve?.close();
  }

  /** A kept sandbox's plan: the sandbox as configured, with no command. */
  #memberPlan(netnsFd: number): NativePlan {
    // The cgroup parent is prepared before the member's init exists: on cgroup v2 that may move this
    // process into a leaf so the parent can enable controllers, which is refused while other
    // processes (an init started here first) sit in the parent. A pool's runs' cgroups, one new
    // per run, are made ahead of them.
    if (wantsCgroup(this.#config)) {
      if (this.#config.pool > 0) this.#reserveOf()?.fill();
      else cgroupManager({ parent: this.#config.cgroupParent });
    }
    const none = nullFd();
    return sandboxPlan(this.#config, [none, none, none], null, netnsFd);
  }

  /**
   * The pool's cgroup reserve, made at the first call (which prepares the cgroup parent); null
   * without a usable cgroup (a run then falls back, or fails, in openCgroup).
   */
  #reserveOf(): CgroupReserve | null {
    if (this.#reserve === null) {
      const found = cgroupManager({ parent: this.#config.cgroupParent });
      if (found.manager === null) return null;
      const manager = found.manager;
      const c = this.#config;
      // A sandbox's init is not in its runs' cgroups: one fewer there keeps `pids` counting the
      // init (lib/options.ts).
      const limits = { cpuQuota: c.cpuQuota, memoryBytes: c.memoryBytes, pids: runPids(c.pids), cpusetCpus: c.cpusetCpus };
      this.#reserve = new CgroupReserve(manager, limits, Math.min(c.pool, MAX_CGROUPS_AHEAD));
    }
    return this.#reserve;
  }

  /** Runs `argv` to its end. stdout and stderr are captured into the result unless redirected. */
  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    if (this.#flattening !== null) return this.#flattening.then(() => this.run(argv, options));
    if (this.#pool.soonIdle()) return this.#runWhenIdle(argv, options);
    try {
      return this.#start(argv, options, true).result;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** run() once a sandbox being reset is idle (another caller may take it first: then the next). */
  async #runWhenIdle(argv: string[], options: RunOptions): Promise<RunResult> {
    while (this.#pool.soonIdle()) await this.#pool.whenIdle();
    return this.#start(argv, options, true).result;
  }

  /** Starts `argv` and returns at once, with streams for the stdio asked as 'pipe'. */
  spawn(argv: string[], options: RunOptions = {}): SandboxProcess {
    return this.#start(argv, options, false);
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
    const pool = this.#pool;
    // A kept sandbox, when this run's options keep to its filesystem (the cwd). Not with `pids: 1`:
    // only the init fits, so the sandbox's init joins the run's cgroup (pids.max 0 would not stop
    // the command joining one without it).
    const initInCgroup = cfg.pids === 1;
    const reuse = pool.keeps && this.#refusal === null && cfg.cwd === this.#config.cwd && !initInCgroup;
    const taken = reuse ? pool.take() : null;
    let usedTaken = false;
    let run: Run;
    try {
      run = new Run({
        cfg,
        limits,
        capture,
        options,
        openCgroup: () => {
          if (!wantsCgroup(cfg)) return { cgroup: null, reason: null };
          // The reserve's cgroups are for the pool's runs.
          const reserve = taken !== null && this.#config.pool > 0 ? this.#reserveOf() : null;
          if (reserve !== null) return { cgroup: reserve.take(), reason: null };
          return openCgroup(cfg, initInCgroup ? cfg.pids : runPids(cfg.pids));
        },
        cgroupVia: () => cgroupManager({ parent: this.#config.cgroupParent }).manager?.via ?? null,
        plan: (childFds, cgroup) =>
          buildPlan({
            argv,
            cfg,
            stdio: childFds,
            seccomp,
            cgroupFd: -1,
            cgroupProcs: initInCgroup ? [] : (cgroup?.join ?? []),
            cgroupEnforced: cgroup !== null,
            callerUid: process.getuid?.() ?? 0,
            callerGid: process.getgid?.() ?? 0,
            netnsFd: -1,
            withoutMounts: true,
          }),
        sandbox: (childFds, cgroup) => {
          if (taken !== null) {
            usedTaken = true;
            return { member: taken, once: false };
          }
          const planFor = (netnsFd: number) => sandboxPlan(cfg, childFds, initInCgroup ? cgroup : null, netnsFd);
          if (reuse) return { member: pool.startKept(planFor), once: false };
          return { member: pool.startOnce(planFor), once: true };
        },
        discard: (member: Member) => pool.discard(member),
        finish: (member: Member) => pool.finish(member),
        ended: (member, end) => pool.runEnded(member, end),
      });
    } catch (e) {
      // A sandbox taken but not used: it is idle again.
      if (taken !== null && !usedTaken) taken.runsSent--;
      throw e;
    }
    return {
      pid: run.pid,
      stdin: run.stdio.stdin,
      stdout: run.stdio.stdout,
      stderr: run.stdio.stderr,
      kill(signal: NodeJS.Signals | number = 'SIGTERM') {
        const signo = typeof signal === 'number' ? signal : constants.signals[signal];
        if (signo === undefined)
          throw new SandboxError(`Expected a signal name or number for kill but received ${String(signal)}`, { stage: 'options' });
        run.kill(signo);
      },
      result: run.result,
    };
  }
}

/**
 * A sandbox's own plan: its filesystem and namespaces, no command (its init serves runs).
 * `cgroup`: the run's, when the init itself is to count against it (`pids: 1`).
 */
function sandboxPlan(cfg: ResolvedConfig, stdio: [number, number, number], cgroup: SandboxCgroup | null, netnsFd: number): NativePlan {
  return buildPlan({
    argv: ['sandbox-init'],
    cfg,
    stdio,
    seccomp: null,
    cgroupFd: cgroup?.fd ?? -1,
    cgroupProcs: cgroup?.join ?? [],
    cgroupEnforced: cgroup !== null,
    callerUid: process.getuid?.() ?? 0,
    callerGid: process.getgid?.() ?? 0,
    netnsFd,
  });
}

/** pids.max of a run's cgroup: `pids` less the sandbox's init, which sits outside it. */
function runPids(pids: number | null): number | null {
  return pids === null ? null : Math.max(1, pids - 1);
}

/** Whether runs of `cfg` are meant to have cgroups (limits on them, or one asked for outright). */
function wantsCgroup(cfg: ResolvedConfig): boolean {
  return (
    cfg.cpuQuota !== null ||
    cfg.memoryBytes !== null ||
    cfg.pids !== null ||
    cfg.timeLimitMs !== null ||
    cfg.cpusetCpus !== null ||
    cfg.requireCgroup
  );
}

/** The run's cgroup, with `pids` as its pids.max, or null and why there is none (the reason is null when none was wanted). */
function openCgroup(cfg: ResolvedConfig, pids: number | null): { cgroup: SandboxCgroup | null; reason: string | null } {
  const found = cgroupManager({ parent: cfg.cgroupParent });
  if (found.manager === null) {
    if (cfg.requireCgroup) throw new SandboxError(`no usable cgroup: ${found.reason}`, { stage: 'cgroup' });
    // Pinning has no stand-in: without a cpuset cgroup the run is refused, never run unpinned.
    if (cfg.cpusetCpus !== null)
      throw new SandboxError(`cannot pin CPUs (cpusetCpus): no usable cgroup: ${found.reason}`, { stage: 'cgroup' });
    return { cgroup: null, reason: found.reason };
  }
  const limits = { cpuQuota: cfg.cpuQuota, memoryBytes: cfg.memoryBytes, pids, cpusetCpus: cfg.cpusetCpus };
  return { cgroup: found.manager.create(limits), reason: null };
}
