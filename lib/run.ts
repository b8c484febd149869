// One run: its cgroup, stdio, sandbox, limits' timers and abort listener, from its start to its
// RunResult. Timers and listeners are given back by the release registered when each is taken
// (#own); the cgroup is removed and the stdio closed by #fail() when the run fails at any step,
// and at its end the cgroup is read and removed, so each is given back exactly once.
import { constants } from 'node:os';
import type { CgroupVia, MemorySplit, SandboxCgroup } from './cgroup/index.js';
import { SandboxError } from './errors.js';
import { setupError } from './setup-error.js';
import { setLongTimeout } from './long-timer.js';
import { native, TERMINATE_SIGNAL, type NativeRunEnd, type NativeSandboxEnd } from './native.js';
import type { NativePlan } from './native-plan.js';
import { buildResult, type LimitKill } from './build-result.js';
import type { AppliedLimits, Enforcement, RunResult } from './result.js';
import { setupStdio, type StdioSetup } from './stdio.js';
import { commandHostIds } from './build-plan.js';
import type { ResolvedConfig } from './validate.js';
import type { Member } from './warm-pool.js';

/** The end of a run its sandbox never received: the sandbox's end tells the rest. */
const SANDBOX_GONE: NativeRunEnd = {
  exitCode: null,
  signal: null,
  error: null,
  startNs: 0,
  endNs: 0,
  treeUserUs: null,
  treeSysUs: null,
  treeMaxRssKb: null,
  commandExited: false,
  netnsEmpty: false,
  tmpfsBytes: 0,
};

/** How long init gets to kill everything and report before it is SIGKILLed itself. */
const TERMINATE_GRACE_MS = 2000;
/** How long setup may take before a wall-time limit counts it against the run. */
const SETUP_ALLOWANCE_MS = 5000;
/** memory.stat samples while the command runs: the first this long after its execve, then doubling up to the max. */
const MEMORY_SAMPLE_FIRST_MS = 5;
const MEMORY_SAMPLE_MAX_MS = 250;

/** What the Sandbox gives a run: its cgroup, and the sandbox it is sent to. */
export interface RunParts {
  cfg: ResolvedConfig;
  limits: AppliedLimits;
  capture: boolean;
  options: { stdin?: unknown; stdout?: unknown; stderr?: unknown; signal?: AbortSignal };
  /** Opens the run's cgroup (null: none, with the reason, null when none was wanted). */
  openCgroup(): { cgroup: SandboxCgroup | null; reason: string | null };
  /** How the cgroup's parent was chosen, for the result. */
  cgroupVia(): CgroupVia | null;
  /** The sandbox the run goes to; `childFds` its stdio, `cgroup` its cgroup. The run is counted as sent. */
  sandbox(childFds: [number, number, number], cgroup: SandboxCgroup | null): { member: Member; once: boolean };
  /** The run's plan for that sandbox. */
  plan(childFds: [number, number, number], cgroup: SandboxCgroup | null): NativePlan;
  /** The sandbox could not take the run: it is ended. */
  discard(member: Member): void;
  /** A sandbox used once takes no more runs. */
  finish(member: Member): void;
  /** The run has ended (the sandbox is being reset, or ending). */
  ended(member: Member, end: NativeRunEnd): void;
}

export class Run {
  readonly pid: number;
  readonly stdio: StdioSetup;
  readonly result: Promise<RunResult>;
  /** Releases of the timers and listeners the run holds. */
  #releases: (() => void)[] = [];
  #ended = false;
  #killedFor: LimitKill | null = null;
  #graceTimer: NodeJS.Timeout | null = null;
  /** Ends the run's sandbox for good (SIGKILL to its init), so that no later run is sent to it. */
  #discardSandbox: () => void = () => {};
  #cgroup: SandboxCgroup | null;
  #split: MemorySplit | null = null;
  /** The memory sampler's and the CPU-time poll's next check. */
  #splitTimer: NodeJS.Timeout | null = null;
  #cpuTimer: NodeJS.Timeout | null = null;
  /** The sandbox was started for this run alone: the result waits for its end (nothing is left). */
  #once = false;

  /** Starts the run; throws a SandboxError (with everything taken given back) when it cannot. */
  constructor(parts: RunParts) {
    const { cfg } = parts;
    const addon = native();
    const signal = parts.options.signal;
    const opened = parts.openCgroup();
    const cgroup = opened.cgroup;
    this.#cgroup = cgroup;
    try {
      this.stdio = setupStdio({
        stdin: (parts.options.stdin ?? (parts.capture ? 'ignore' : 'pipe')) as never,
        stdout: (parts.options.stdout ?? 'pipe') as never,
        stderr: (parts.options.stderr ?? 'pipe') as never,
        capture: parts.capture,
        outputLimit: cfg.outputLimitBytes,
        tty: cfg.tty,
        ttyOwner: commandHostIds(cfg, process.getuid?.() ?? 0, process.getgid?.() ?? 0),
      });
    } catch (e) {
      void cgroup?.destroy();
      throw setupError(e);
    }
    const stdio = this.stdio;
    let member: Member;
    let runEnded!: (e: NativeRunEnd) => void;
    const end = new Promise<NativeRunEnd>((r) => (runEnded = r));
    const launchedAt = addon.monotonicNs();
    let onStart: (startNs: number) => void = () => {};
    try {
      const plan = parts.plan(stdio.childFds, cgroup);
      const got = parts.sandbox(stdio.childFds, cgroup);
      member = got.member;
      try {
        addon.runIn(member.pid, plan, runEnded, (startNs) => {
          if (cgroup !== null) this.#sampleMemory(MEMORY_SAMPLE_FIRST_MS);
          onStart(startNs);
        });
      } catch (e) {
        const f = e as { stage?: unknown; errno?: unknown };
        if (f.stage !== 'run' || f.errno !== constants.errno.EPIPE) {
          parts.discard(member);
          throw e;
        }
        // The sandbox's init was gone before the run reached it (its setup failed, or it was
        // killed): the run ends as the sandbox did, with the sandbox's own setup error when it
        // has one (#finish), not with the broken pipe that says nothing of why.
        queueMicrotask(() => runEnded(SANDBOX_GONE));
      }
      if (got.once) {
        parts.finish(member);
        this.#once = true;
      }
    } catch (e) {
      this.#fail();
      throw setupError(e);
    }
    this.pid = member.pid;
    this.#discardSandbox = () => parts.discard(member);
    cgroup?.joined();
    for (const fd of stdio.childSide) addon.close(fd);
    // Closed: a later abort() must not close these numbers again, another run may hold them now.
    stdio.childSide.length = 0;

    // Long timers (lib/long-timer.ts): a limit up to the documented maximum plus the setup
    // allowance would overflow a single Node timer.
    if (cfg.wallTimeLimitMs !== null) {
      // The limit counts from the command's execve (as wallTimeMs does): armed when init reports
      // it, with a backstop from the send in case setup itself hangs.
      const limitMs = cfg.wallTimeLimitMs;
      const backstop = setLongTimeout(() => this.#terminate('wall-time-limit'), limitMs + SETUP_ALLOWANCE_MS);
      this.#own(() => backstop.clear());
      onStart = (startNs) => {
        backstop.clear();
        const elapsedMs = (addon.monotonicNs() - startNs) / 1e6;
        const limit = setLongTimeout(() => this.#terminate('wall-time-limit'), Math.max(0, limitMs - elapsedMs));
        this.#own(() => limit.clear());
      };
    }
    if (cfg.timeLimitMs !== null && cgroup !== null) this.#pollCpu(cgroup, cfg.timeLimitMs * 1000);
    if (signal !== undefined) {
      const onAbort = () => this.#terminate(null);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#own(() => signal.removeEventListener('abort', onAbort));
    }
    this.#own(() => {
      for (const t of [this.#graceTimer, this.#splitTimer, this.#cpuTimer]) if (t !== null) clearTimeout(t);
    });
    stdio.start(() => this.#terminate('output-limit'));
    this.result = this.#finish(parts, member, end, launchedAt, opened.reason, signal);
  }

  /** Sends a signal to the command (SIGKILL ends the whole sandbox). */
  kill(signo: number): void {
    if (this.#ended) return;
    if (signo === constants.signals.SIGKILL) this.#terminate(null);
    else native().signal(this.pid, signo);
  }

  #own(release: () => void): void {
    this.#releases.push(release);
  }

  /** Clears the timers and listeners. */
  #release(): void {
    const releases = this.#releases;
    this.#releases = [];
    for (const r of releases) r();
  }

  /** The run failed: everything it holds is given back. */
  #fail(): void {
    this.#release();
    this.stdio.abort();
    void this.#cgroup?.destroy();
  }

  #terminate(reason: LimitKill | null): void {
    if (this.#ended) return;
    if (this.#killedFor === null && reason !== null) this.#killedFor = reason;
    native().signal(this.pid, TERMINATE_SIGNAL);
    // The sandbox is discarded, not only signalled: its run may have ended meanwhile, its end not
    // yet read (timers come before I/O in a turn of the loop), and a kept sandbox that said it was
    // ready must not be handed to the next run as it dies.
    this.#graceTimer ??= setTimeout(() => {
      this.#cgroup?.kill();
      this.#discardSandbox();
    }, TERMINATE_GRACE_MS);
  }

  /**
   * memory.stat is sampled while the command runs: after it ends its memory is freed and the
   * anon/file split reads 0. At doubling intervals up to MEMORY_SAMPLE_MAX_MS.
   */
  #sampleMemory(delayMs: number): void {
    this.#splitTimer = setTimeout(() => {
      this.#splitTimer = null;
      if (this.#ended || this.#cgroup === null) return;
      try {
        const now = this.#cgroup.memorySplit();
        const seen = this.#split;
        if (now !== null && (seen === null || now.anonBytes + now.fileBytes > seen.anonBytes + seen.fileBytes)) this.#split = now;
      } catch {
        return; // the cgroup is going away
      }
      this.#sampleMemory(Math.min(delayMs * 2, MEMORY_SAMPLE_MAX_MS));
    }, delayMs);
  }

  #pollCpu(cgroup: SandboxCgroup, limitUs: number): void {
    const check = () => {
      this.#cpuTimer = null;
      if (this.#ended) return;
      let used = 0;
      try {
        used = cgroup.cpuUsageUs();
      } catch {
        return;
      }
      if (used >= limitUs) return this.#terminate('cpu-time-limit');
      // The tree can burn at most one core-second per second per CPU: check again before
      // the remaining budget could be spent, at least every 100 ms, at most every 2 ms.
      const remainingMs = (limitUs - used) / 1000;
      schedule(Math.max(2, Math.min(100, remainingMs / 4)));
    };
    const schedule = (ms: number) => {
      this.#cpuTimer = setTimeout(check, ms);
    };
    schedule(Math.max(2, Math.min(100, limitUs / 4000)));
  }

  async #finish(
    parts: RunParts,
    member: Member,
    ended: Promise<NativeRunEnd>,
    launchedAt: number,
    noCgroupReason: string | null,
    signal: AbortSignal | undefined,
  ): Promise<RunResult> {
    const end = await ended;
    this.#ended = true;
    parts.ended(member, end);
    this.stdio.runEnded();
    this.#release();
    const endedAt = native().monotonicNs();
    const cgroup = this.#cgroup;
    const stdio = this.stdio;
    let usage = null;
    if (cgroup !== null) {
      // Read and removed in one job on the addon's lane. Everything of the run has been reaped
      // (init closes the run's pipe after that); a removal that finds tasks there still kills them.
      usage = await cgroup.end();
      const seen = this.#split;
      if (usage !== null && seen !== null && seen.anonBytes + seen.fileBytes > (usage.anonBytes ?? 0) + (usage.fileBytes ?? 0)) {
        usage = { ...usage, ...seen };
      }
    }
    // Neither the command's end nor a failure: the sandbox itself ended (killed, or its setup failed).
    const sandboxEnd: NativeSandboxEnd | null = !end.commandExited && end.error === null ? await member.ended : null;
    if (this.#once) await member.ended;
    const failure = end.error ?? sandboxEnd?.error ?? null;
    if (failure !== null || (sandboxEnd !== null && member.failure !== null)) {
      stdio.abort();
      throw sandboxEnd !== null && member.failure !== null ? member.failure : setupError(failure);
    }
    await stdio.drained;
    if (signal?.aborted && this.#killedFor === null) {
      // An abort is the caller's decision, not a verdict about the program.
      throw new SandboxError('the run was aborted', { stage: 'aborted', cause: signal.reason });
    }
    const via = cgroup === null ? null : parts.cgroupVia();
    const enforcement: Enforcement = cgroup === null ? 'rlimit' : cgroup.mode;
    return buildResult({
      exit: end,
      initSignal: sandboxEnd?.signal ?? null,
      killedFor: this.#killedFor,
      usage,
      enforcement,
      cgroup: cgroup === null || via === null ? null : { dir: cgroup.paths[0]!, via },
      limits: parts.limits,
      noCgroupReason,
      fallbackWallMs: (end.startNs > 0 ? endedAt - end.startNs : endedAt - launchedAt) / 1e6,
      stdout: stdio.out.chunks === null ? null : Buffer.concat(stdio.out.chunks),
      stderr: stdio.err.chunks === null ? null : Buffer.concat(stdio.err.chunks),
      outputBytes: { stdout: stdio.out.bytes, stderr: stdio.err.bytes },
    });
  }
}
