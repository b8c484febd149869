// cgroupfs I/O in one place: every write and read goes through here, so every failure names
// the file, the directory and the cause ("cannot write memory.max in /sys/fs/cgroup/x: Permission denied").
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, errnoName, errnoText, errorText } from '../errno.js';
import { SandboxError } from '../errors.js';
import { native, type NativeAddon } from '../native.js';
import { parseKeyValue, parsePids } from './proc.js';

// Reads and writes go through the addon when it loads (csrc/cgroupfs.cc: cheaper per file than
// readFileSync, and a run with limits touches some fifteen files), through node:fs when it does not (doctor
// explaining why the addon is missing still reads cgroup files).
let addon: NativeAddon | null | undefined;
export function fastIo(): NativeAddon | null {
  if (addon === undefined) {
    try {
      addon = native();
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** The addon's -errno as the error node:fs would have thrown. */
export function errnoError(errno: number, syscall: string, file: string): NodeJS.ErrnoException {
  const code = errnoName(errno) ?? `E${errno}`;
  const text = errnoText(errno);
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${file}'`), { code, errno: -errno, syscall, path: file });
}

/**
 * `dir`/`name`: a cgroup directory (absolute, normalized: as detect.ts gives them) and one name in it.
 * Not path.join: its normalizing is a visible share of the event loop's thread per run with limits
 * (a run's cgroup names some twenty files).
 */
export function inDir(dir: string, name: string): string {
  return `${dir}/${name}`;
}

/** One write(2); throws as node:fs does, with syscall 'open' or 'write' saying which step failed. */
export function writeText(file: string, value: string): void {
  const io = fastIo();
  if (io !== null) {
    const r = io.writeFile(file, value);
    if (r !== 0) throw errnoError(Math.abs(r), r < 0 ? 'open' : 'write', file);
    return;
  }
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  try {
    fs.writeSync(fd, value);
  } finally {
    fs.closeSync(fd);
  }
}

export function readText(file: string): string {
  const io = fastIo();
  if (io === null) return fs.readFileSync(file, 'latin1');
  const r = io.readFile(file);
  if (typeof r === 'number') throw errnoError(-r, 'open', file);
  return r;
}

/** "cannot VERB FILE in DIR: Cause" as a SandboxError of stage 'cgroup'. */
export function cgroupError(verb: string, file: string, dir: string, err: unknown, hint = ''): SandboxError {
  const e = err as NodeJS.ErrnoException | null;
  const object = file === '' ? dir : `${file} in ${dir}`;
  return new SandboxError(`cannot ${verb} ${object}: ${errorText(err)}${hint === '' ? '' : ` (${hint})`}`, {
    stage: 'cgroup',
    errno: typeof e?.errno === 'number' ? Math.abs(e.errno) : null,
    syscall: typeof e?.syscall === 'string' ? e.syscall : null,
    cause: err,
  });
}

/**
 * Write one value with one write(2), the way cgroupfs wants it. No O_CREAT: a file the kernel does
 * not offer is an error (ENOENT), not a new file. O_TRUNC is ignored by cgroupfs and keeps tests
 * against regular files honest.
 */
export function writeCgroupFile(dir: string, file: string, value: string): void {
  try {
    writeText(inDir(dir, file), value);
  } catch (err) {
    // A file that cannot be opened is named alone; a value the kernel refuses is named too.
    const verb = (err as NodeJS.ErrnoException).syscall === 'write' ? `write "${value.trim()}" to` : 'write';
    throw cgroupError(verb, file, dir, err);
  }
}

export function readCgroupFile(dir: string, file: string): string {
  try {
    return readText(inDir(dir, file));
  } catch (err) {
    throw cgroupError('read', file, dir, err);
  }
}

/** A cgroup file's text, or null when the kernel does not have it; throws on any other failure. */
export type CgroupReader = (dir: string, file: string) => string | null;

/** The file's text, or null when the kernel does not have it (older kernel, controller off). */
export function readOptionalCgroupFile(dir: string, file: string): string | null {
  try {
    return readText(inDir(dir, file));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw cgroupError('read', file, dir, err);
  }
}

export function hasFile(dir: string, file: string): boolean {
  return fs.existsSync(path.join(dir, file));
}

/** Sleep without returning to the event loop (kill loops that must finish before returning). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** dir and every cgroup below it, deepest first (the order rmdir needs). */
export function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw cgroupError('list', '', dir, err);
  }
  for (const entry of entries) if (entry.isDirectory()) out.push(...cgroupTree(path.join(dir, entry.name)));
  out.push(dir);
  return out;
}

/** Pids in cgroup.procs of dir and of every cgroup below it (a gone directory has none). */
export function treePids(dir: string): number[] {
  const pids: number[] = [];
  for (const d of cgroupTree(dir)) {
    const text = readOptionalCgroupFile(d, 'cgroup.procs');
    if (text !== null) pids.push(...parsePids(text));
  }
  return pids;
}

/**
 * SIGKILL every pid the reader returns until it returns none or the deadline passes. A task that
 * has been sent SIGKILL cannot fork any more (fork checks fatal_signal_pending), so each round can
 * only meet children forked before it: the loop converges even for a fork bomb. Exited tasks leave
 * cgroup.procs at exit (cgroup_exit), before they are reaped, so zombies do not keep it busy.
 */
export function killUntilEmpty(readPids: () => number[], deadlineMs: number): boolean {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const pids = readPids().filter((pid) => pid > 0 && pid !== process.pid);
    if (pids.length === 0) return true;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ESRCH: it exited between the read and the kill.
      }
    }
    if (Date.now() > end) return false;
    sleepSync(1);
  }
}

/** anon and file bytes from memory.stat's text under the given keys; null when either is missing. */
export function memorySplitOf(statText: string | null, anonKey: string, fileKey: string): { anonBytes: number; fileBytes: number } | null {
  if (statText === null) return null;
  const stat = parseKeyValue(statText);
  const anon = stat.get(anonKey);
  const file = stat.get(fileKey);
  return anon === undefined || file === undefined ? null : { anonBytes: anon, fileBytes: file };
}
