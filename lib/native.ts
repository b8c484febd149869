// Loads the addon (a prebuild for this platform, else the local build) and types its surface.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError } from './errors.js';
import type { NativeExit, NativePlan } from './native-plan.js';

export interface NativeExitReport extends NativeExit {
  /** rusage of the command's tree reported by init when it saw the command end (null when init was killed). */
  treeUserUs: number | null;
  treeSysUs: number | null;
  treeMaxRssKb: number | null;
  /** CPU init spent on setup before the command's execve (it is in the cgroup too). */
  initUserUs: number;
  initSysUs: number;
  /** How init itself ended. */
  init: { exitCode: number | null; signal: number | null };
  commandExited: boolean;
  /** A network namespace lent from the pool held nothing when the sandbox ended (init's own check). */
  netnsEmpty: boolean;
  /** Bytes left in the sandbox's tmpfs mounts and /dev/shm when its tree ended (init's statfs). */
  tmpfsBytes: number;
}

export interface NativeAddon {
  /** onStart when the command has exec'd; for a warm sandbox (plan.serveRuns), onReady each time it is idle. */
  launch(
    plan: NativePlan,
    onExit: (exit: NativeExitReport) => void,
    onStart?: (startNs: number, initCpuUs: number) => void,
  ): { pid: number };
  /** A run on the idle warm sandbox `pid` (csrc/warm.cc): the callbacks as for launch(). */
  runIn(
    pid: number,
    plan: NativePlan,
    onExit: (exit: NativeExitReport) => void,
    onStart?: (startNs: number, setupCpuUs: number) => void,
  ): void;
  signal(pid: number, signal: number): boolean;
  release(pid: number, go: boolean): boolean;
  pipe(): [number, number];
  openPty(cols: number, rows: number): [number, number];
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
