// A cgroup's making (mkdir, limit writes, fds) or removal as one list of steps, run by the addon
// (csrc/cgroupfs.cc) on the caller's thread or as one job on the addon's own thread (its lane,
// csrc/lane.h). The same list either
// way, so a cgroup made ahead of its run (./reserve.ts) is made exactly as one made at launch, and
// a failure says the same thing: which file, which directory, the cause.
import fs from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { SandboxError } from '../errors.js';
import { errnoCode } from '../errno.js';
import { cgroupError, cgroupTree, errnoError, fastIo, inDir, readText, sleep, writeText, type CgroupReader } from './files.js';
import type { CgroupUsage } from './types.js';

/**
 * open: a directory's fd (O_RDONLY|O_DIRECTORY); open-w: a file's fd for writing (the `tasks` or
 * `cgroup.procs` file a run's process joins by); close: closes the fd given as `text` (an open-w's, once).
 */
export type StepKind = 'mkdir' | 'rmdir' | 'open' | 'open-w' | 'close' | 'read' | 'write';

export interface CgroupStep {
  kind: StepKind;
  path: string;
  /** write: the value (one write(2)); close: the fd. */
  text?: string;
  /** write: skipped when the kernel does not offer the file (older kernel, no swap support). */
  optional?: boolean;
  /** write: a failure is ignored (a setting that only helps). */
  bestEffort?: boolean;
  /** write: what to say when the file is absent, in place of "cannot write ...: No such file". */
  missing?: string;
}

/** Per step: 0, an fd (open, open-w), a text (read), -errno (the step failed), +errno (a value refused), null (not run). */
export type StepResults = (number | string | null)[];

/**
 * The steps as the addon takes them: kind, path and text of each, every field ended by a NUL (no
 * path or value holds one). One string, not an array of three per step: converting some fifty
 * N-API strings one by one cost the event loop's thread more than the steps' own system calls.
 */
function flat(steps: CgroupStep[]): string {
  let out = '';
  for (const s of steps) {
    const kind = s.kind !== 'write' ? s.kind : s.bestEffort ? 'write~' : s.optional ? 'write?' : 'write';
    out += `${kind}\0${s.path}\0${s.text ?? ''}\0`;
  }
  return out;
}

/** Runs the steps on this thread. */
export function runSteps(steps: CgroupStep[]): StepResults {
  const io = fastIo();
  return io === null ? runStepsHere(steps) : io.cgroupSteps(flat(steps));
}

/** Runs the steps as one job on the addon's lane (its own thread; libuv's pool without it). */
export function runStepsAsync(steps: CgroupStep[]): Promise<StepResults> {
  const io = fastIo();
  if (io === null) return Promise.resolve().then(() => runStepsHere(steps));
  return new Promise((resolve) => io.cgroupStepsAsync(flat(steps), resolve));
}

/** The -errno (+errno: the kernel refused a written value) of a node:fs error. */
function errnoOf(err: unknown): number {
  const e = err as NodeJS.ErrnoException;
  const errno = typeof e?.errno === 'number' ? Math.abs(e.errno) : constants.errno.EIO;
  return e?.syscall === 'write' ? errno : -errno;
}

function removeQuietly(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Undoing a failed making: what cannot go is left to the stale sweep.
  }
}

function opens(s: CgroupStep): boolean {
  return s.kind === 'open' || s.kind === 'open-w';
}

/** Steps that close fds an open-w (or open) gave: each fd once, by whoever owns it. */
export function closeSteps(fds: number[]): CgroupStep[] {
  return fds.map((fd) => ({ kind: 'close', path: '', text: String(fd) }));
}

/**
 * csrc/cgroupfs.cc's run_steps through node:fs, for when the addon does not load (doctor explaining
 * why, the cgroup layer's own tests): the same results, the same undoing.
 */
export function runStepsHere(steps: CgroupStep[]): StepResults {
  const out: StepResults = steps.map(() => null);
  for (const [i, s] of steps.entries()) {
    let r: number | string = 0;
    try {
      if (s.kind === 'read') r = readText(s.path);
      else if (s.kind === 'mkdir') fs.mkdirSync(s.path, 0o755);
      else if (s.kind === 'rmdir') fs.rmdirSync(s.path);
      else if (s.kind === 'open') r = fs.openSync(s.path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      else if (s.kind === 'open-w') r = fs.openSync(s.path, fs.constants.O_WRONLY);
      else if (s.kind === 'close') fs.closeSync(Number(s.text));
      else writeText(s.path, s.text ?? '');
    } catch (err) {
      r = errnoOf(err);
      if (s.kind === 'rmdir' && r === -constants.errno.ENOENT) r = 0;
      if (s.kind === 'write' && (s.bestEffort || (s.optional && r === -constants.errno.ENOENT))) r = 0;
    }
    out[i] = r;
    if (r === 0 || s.kind === 'read' || s.kind === 'rmdir' || s.kind === 'close' || (opens(s) && typeof r === 'number' && r > 0)) continue;
    for (let j = i - 1; j >= 0; j--) {
      if (opens(steps[j]!)) fs.closeSync(out[j] as number);
      else if (steps[j]!.kind === 'mkdir') removeQuietly(steps[j]!.path);
    }
    break;
  }
  return out;
}

/**
 * The error of the first failed step of a making (mkdir, write, open, open-w), or null: the steps
 * after it were not run and the addon has undone those before it. Reads, closes and rmdirs are not makings.
 */
export function stepsError(steps: CgroupStep[], results: StepResults): SandboxError | null {
  for (const [i, s] of steps.entries()) {
    const r = results[i];
    if (r === null || r === undefined) return null;
    if (s.kind === 'rmdir' || s.kind === 'read' || s.kind === 'close' || typeof r !== 'number' || r === 0 || (opens(s) && r > 0)) continue;
    const dir = path.dirname(s.path);
    const file = path.basename(s.path);
    if (s.kind === 'mkdir') return cgroupError('create', file, dir, errnoError(-r, 'mkdir', s.path));
    if (s.kind === 'open') return cgroupError('open', '', s.path, errnoError(-r, 'open', s.path));
    if (s.kind === 'open-w') return cgroupError('open', file, dir, errnoError(-r, 'open', s.path));
    if (r < 0 && -r === constants.errno.ENOENT && s.missing !== undefined) return new SandboxError(s.missing, { stage: 'cgroup' });
    const verb = r > 0 ? `write "${(s.text ?? '').trim()}" to` : 'write';
    return cgroupError(verb, file, dir, errnoError(Math.abs(r), r > 0 ? 'write' : 'open', s.path));
  }
  return null;
}

/** Runs a making on this thread; throws the first failure (nothing of it is left then). */
export function makeNow(steps: CgroupStep[]): StepResults {
  const results = runSteps(steps);
  const err = stepsError(steps, results);
  if (err !== null) throw err;
  return results;
}

/** Runs a making on the addon's lane; rejects with the first failure (nothing of it is left then). */
export async function makeLater(steps: CgroupStep[]): Promise<StepResults> {
  const results = await runStepsAsync(steps);
  const err = stepsError(steps, results);
  if (err !== null) throw err;
  return results;
}

/**
 * rmdir every directory (deepest first), retrying while tasks that were just killed finish exiting
 * (EBUSY); killTasks runs before each retry. ENOENT counts as removed. `closeFds` (the cgroup's own
 * fds) are closed first, in the same job.
 */
export async function removeCgroupDirs(dirs: string[], killTasks: () => void, closeFds: number[] = []): Promise<void> {
  const delays = [2, 5, 10, 20, 40, 80, 160, 250, 500, 500, 500, 500];
  // Usually leaves with no task left: one rmdir each, no listing (a readdir of a cgroup directory
  // is ~17 µs, four per run), all in one job on the addon's lane: removing a memory cgroup takes
  // ~0.1 ms of the kernel's time, which the event loop need not wait through. Anything else
  // (EBUSY: tasks or child cgroups) takes the walk below.
  const removed = (await runStepsAsync([...closeSteps(closeFds), ...dirs.map((dir): CgroupStep => ({ kind: 'rmdir', path: dir }))])).slice(
    closeFds.length,
  );
  for (const [i, top] of dirs.entries()) {
    if (removed[i] === 0) continue;
    for (const dir of cgroupTree(top)) {
      for (let attempt = 0; ; attempt++) {
        try {
          fs.rmdirSync(dir);
          break;
        } catch (err) {
          const code = errnoCode(err);
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt >= delays.length) {
            throw cgroupError('remove', '', dir, err, code === 'EBUSY' ? 'tasks still in it' : '');
          }
          killTasks();
          await sleep(delays[attempt]!);
        }
      }
    }
  }
}

/**
 * A run's end in one job on the addon's lane: its cgroup's last figures read (`files`, each optional), its
 * fds closed (`closeFds`), then its directories removed (`dirs`, deepest first); `parse` makes the
 * usage of what was read (null when it cannot). A directory still there (EBUSY) goes through
 * removeCgroupDirs() with `kill`.
 */
export async function readThenRemove(
  files: string[],
  dirs: string[],
  parse: (read: CgroupReader) => CgroupUsage,
  kill: () => void,
  closeFds: number[] = [],
): Promise<CgroupUsage | null> {
  const steps: CgroupStep[] = [
    ...files.map((f): CgroupStep => ({ kind: 'read', path: f })),
    ...closeSteps(closeFds),
    ...dirs.map((d): CgroupStep => ({ kind: 'rmdir', path: d })),
  ];
  const results = await runStepsAsync(steps);
  const texts = new Map<string, string | number | null>(files.map((f, i) => [f, results[i] ?? null]));
  const read: CgroupReader = (dir, file) => {
    const at = inDir(dir, file);
    const r = texts.get(at);
    if (typeof r === 'string') return r;
    if (r === -constants.errno.ENOENT) return null;
    throw cgroupError('read', file, dir, errnoError(typeof r === 'number' ? -r : constants.errno.EINVAL, 'open', at));
  };
  let usage: CgroupUsage | null;
  try {
    usage = parse(read);
  } catch {
    usage = null;
  }
  if (!results.slice(files.length + closeFds.length).every((r) => r === 0)) await removeCgroupDirs(dirs, kill);
  return usage;
}
