// Everything the checks learn about the machine goes through one small object, so the decision logic can be
// unit-tested with injected file contents and probe results (see test/unit/doctor.test.ts).
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { machine, release } from 'node:os';
import { overlaySupport, type OverlaySupport } from '../image/overlay.js';

export interface ProbeResult {
  /** Exit status; null when the probe did not run or was killed. */
  status: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run or finish: 'ENOENT', 'timed out', ...; null when it exited. */
  error: string | null;
}

export interface FileStat {
  mode: number;
  uid: number;
  isDirectory: boolean;
}

export interface System {
  uid: number;
  gid: number;
  /** uname -r */
  release: string;
  /** uname -m (x86_64, aarch64) */
  machine: string;
  /** process.arch of this node (x64, arm64) */
  arch: string;
  /** Real path of the node binary (AppArmor profiles attach to it). */
  execPath: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Whole file as text; null when it cannot be read for any reason. */
  readFile(path: string): string | null;
  readlink(path: string): string | null;
  stat(path: string): FileStat | null;
  /** access(path, W_OK): honours permissions and read-only mounts (EROFS). */
  writable(path: string): boolean;
  /**
   * Mounts an overlay in a new user namespace as a sandbox's init does for an image (the addon's
   * probe, lib/image/overlay.ts); null when it could not be asked (no addon).
   */
  overlay?(): OverlaySupport | null;
  /** Run a probe (no shell, no stdin); never rejects. */
  run(cmd: string, args: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ProbeResult>;
}

const MAX_OUTPUT = 64 * 1024;

/** ProbeResult.error of a probe that was killed for taking too long. */
export const TIMED_OUT = 'timed out';

function runProcess(cmd: string, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ status: null, stdout, stderr, error: TIMED_OUT });
    }, options.timeoutMs ?? 5000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += s;
    });
    child.on('error', (err: NodeJS.ErrnoException) => finish({ status: null, stdout, stderr, error: err.code ?? err.message }));
    child.on('close', (code, signal) => finish({ status: code, stdout, stderr, error: signal === null ? null : `killed by ${signal}` }));
  });
}

function tryOr<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

/** The machine this process runs on. */
export function realSystem(): System {
  return {
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    release: release(),
    machine: machine(),
    arch: process.arch,
    execPath: tryOr(() => realpathSync(process.execPath), process.execPath),
    env: process.env,
    readFile: (path) => tryOr(() => readFileSync(path, 'utf8'), null),
    readlink: (path) => tryOr(() => readlinkSync(path), null),
    stat: (path) =>
      tryOr(() => {
        const st = statSync(path);
        return { mode: st.mode, uid: st.uid, isDirectory: st.isDirectory() };
      }, null),
    writable: (path) =>
      tryOr(() => {
        accessSync(path, constants.W_OK);
        return true;
      }, false),
    run: runProcess,
    overlay: () => tryOr(() => overlaySupport(), null),
  };
}

/** Directories searched for tools besides PATH: sbin is often missing from an ordinary user's PATH. */
export const EXTRA_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

export function searchPath(sys: System): string[] {
  const dirs = (sys.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter((d) => d.startsWith('/'));
  for (const d of EXTRA_PATH) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

/** Absolute path of an executable file named `name` in PATH (and the sbin directories), or null. */
export function which(sys: System, name: string): string | null {
  for (const dir of searchPath(sys)) {
    const path = `${dir}/${name}`;
    const st = sys.stat(path);
    if (st !== null && !st.isDirectory && (st.mode & 0o111) !== 0) return path;
  }
  return null;
}
