// Loads the addon (a prebuild for this platform, else the local build) and types its surface.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError } from './errors.js';
import type { NativePlan } from './native-plan.js';

/** A failure before a command's execve, or of a sandbox's setup: the step, errno and object. */
export interface NativeError {
  stage: string;
  errno: number;
  detail: string;
}

/** How a run ended, from the records init wrote on the run's pipe (csrc/exit_report.cc). */
export interface NativeRunEnd {
  /** Wait status of the command as init saw it: exitCode or signal (null when it never started or init was killed). */
  exitCode: number | null;
  signal: number | null;
  /** The run failed before its command's execve. */
  error: NativeError | null;
  /** CLOCK_MONOTONIC ns at the command's execve and at its end (0 when unknown). */
  startNs: number;
  endNs: number;
  /** What the command's tree used, summed by init as it reaped it (null when init was killed). */
  treeUserUs: number | null;
  treeSysUs: number | null;
  treeMaxRssKb: number | null;
  /** init reported the command's end (false: init was killed, or the command never ran). */
  commandExited: boolean;
  /** A network namespace lent from the pool held nothing once the run had ended (init's own check). */
  netnsEmpty: boolean;
  /** Bytes left in the sandbox's tmpfs mounts and /dev/shm when its tree ended (init's statfs). */
  tmpfsBytes: number;
}

/** How a sandbox's init ended. */
export interface NativeSandboxEnd {
  exitCode: number | null;
  signal: number | null;
  /** Its setup failed. */
  error: NativeError | null;
}

export interface NativeAddon {
  /**
   * A sandbox whose init serves runs (csrc/init/serve.cc): onReady(n) when it has said "ready" n
   * more times (built, then reset after each run), onExit once when its init has been reaped.
   */
  launch(plan: NativePlan, onExit: (end: NativeSandboxEnd) => void, onReady: (n: number) => void): { pid: number };
  /** A run on the sandbox `pid` (csrc/run.cc): onStart when the command has exec'd, onEnd once. */
  runIn(pid: number, plan: NativePlan, onEnd: (end: NativeRunEnd) => void, onStart?: (startNs: number) => void): void;
  /** The sandbox `pid` takes no more runs: its init ends once those sent have ended. */
  finish(pid: number): boolean;
  signal(pid: number, signal: number): boolean;
  release(pid: number, go: boolean): boolean;
  /** A CLOEXEC pipe for a run's stdio: [read, write]. */
  pipe(): [number, number];
  openPty(cols: number, rows: number): [number, number];
  /**
   * One non-blocking recvmsg on an accepted unix socket (csrc/unix_request.cc): the peer's
   * SO_PEERCRED, the fds it passed (CLOEXEC) and the bytes read; null when nothing has arrived yet.
   */
  recvRequest(fd: number): { uid: number; gid: number; pid: number; fds: number[]; truncated: boolean; data: Buffer } | null;
  close(fd: number): void;
  monotonicNs(): number;
  /** 0 when an overlay of `lowers` (top first, ':'-separated) mounts in a new user namespace, else its errno. */
  probeOverlay(lowers: string): number;
  /** Makes a network namespace with loopback up on the thread pool: cb(fd) or cb(-errno). */
  netnsCreate(cb: (fdOrErrno: number) => void): void;
  /**
   * Reads fd (taken: closed at EOF) on the event loop: the first `limit` bytes are kept (all when
   * limit < 0), onOverflow() once when more came, onDone(kept, totalBytes) at EOF.
   */
  capture(fd: number, limit: number, onOverflow: () => void, onDone: (data: Buffer, totalBytes: number) => void): void;
  /** A whole small file as latin1 text, or -errno (cgroupfs reads). */
  readFile(path: string): string | number;
  /** One write(2) of text, no O_CREAT (cgroupfs writes): 0; -errno: not opened; +errno: write refused. */
  writeFile(path: string, text: string): number;
  /** A cgroup's making or removal, as NUL-ended kind, path, text fields (lib/cgroup/steps.ts): a result per step. */
  cgroupSteps(steps: string): (number | string | null)[];
  /** The same as one job on the addon's own thread (csrc/lane.h). */
  cgroupStepsAsync(steps: string, done: (results: (number | string | null)[]) => void): void;
  /** A number unique in this process, across worker threads: the last part of a cgroup's name. */
  cgroupSerial(): number;
  /** mknod(path, S_IFCHR, 0/0), an overlayfs whiteout: 0 or -errno (csrc/layerfs.cc). */
  makeWhiteout(path: string): number;
  /** lsetxattr(path, name, value): 0 or -errno. */
  setXattr(path: string, name: string, value: string): number;
  /** lgetxattr(path, name): the value, or -errno. */
  getXattr(path: string, name: string): string | number;
}

/** The signal that makes the sandbox's init kill everything inside and still report (csrc/wire.h). */
export const TERMINATE_SIGNAL = 40;

const require = createRequire(import.meta.url);
let addon: NativeAddon | null = null;

/** The package root: two levels up from dist/lib (compiled) or one from lib (tsx). */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'lib')}`) ? join(here, '..', '..') : join(here, '..');
}

/**
 * The addon's file where node-gyp-build would find it first, without loading node-gyp-build
 * (5 ms of a CLI's start-up): the local build, else the one prebuild for this architecture. null:
 * let node-gyp-build decide (and explain).
 */
function directAddonPath(root: string): string | null {
  const local = join(root, 'build', 'Release', 'sandbox.node');
  if (existsSync(local)) return local;
  const dir = join(root, 'prebuilds', `linux-${process.arch}`);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.node'));
  } catch {
    return null;
  }
  // Several (a musl one next to the glibc one) need node-gyp-build's choice by tags.
  return names.length === 1 ? join(dir, names[0]!) : null;
}

export function native(): NativeAddon {
  if (addon === null) {
    const root = packageRoot();
    const direct = directAddonPath(root);
    if (direct !== null) {
      try {
        addon = require(direct) as NativeAddon;
      } catch {
        addon = null; // node-gyp-build tries again, and says what is wrong
      }
    }
    if (addon === null) {
      const load = require('node-gyp-build') as (dir: string) => NativeAddon;
      try {
        addon = load(root);
      } catch (e) {
        throw new SandboxError(
          `cannot load the native addon: no prebuilt binary for linux-${process.arch} and no local build (run \`npm rebuild linux-sandbox\` with a C++ compiler installed)`,
          { stage: 'load', cause: e },
        );
      }
    }
  }
  return addon;
}
