// A command's working directory on the host (its /w inside): filled from copyIn before the run,
// read by copyOut after it, emptied before the next. Reads never follow a link the command made:
// every component is lstat'ed and the file opened O_NOFOLLOW, and nothing of the sandbox runs
// any more when they happen (its init has killed the tree), so nothing swaps a component meanwhile.
import { constants } from 'node:fs';
import { chown, copyFile, lstat, mkdir, open, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileError, FileErrorType } from './types.js';

/** The host ids that own what the sandbox may write: its mapped ids (root: nobody), or null to keep the caller's. */
export type Owner = { uid: number; gid: number } | null;

export class WorkFileError extends Error {
  constructor(readonly fileError: FileError) {
    super(`${fileError.type}: ${fileError.name}${fileError.message ? `: ${fileError.message}` : ''}`);
  }
}

function fail(name: string, type: FileErrorType, message: string): WorkFileError {
  return new WorkFileError({ name, type, message });
}

/**
 * Makes the parent directories of `rel` in `dir`, owned by `owner`. One that exists must be a
 * directory, not a link: copyIn's own symlinks (or a file) must never lead a write out of `dir`.
 */
async function parents(dir: string, rel: string, owner: Owner): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let at = dir;
  for (const p of parts) {
    at = join(at, p);
    try {
      await mkdir(at, { mode: 0o755 });
      if (owner !== null) await chown(at, owner.uid, owner.gid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!(await lstat(at)).isDirectory()) throw new Error(`${p} is not a directory`);
    }
  }
}

/** Writes `data` (or copies host file `src`) to `rel` in `dir`, executable, owned by `owner`. */
export async function putFile(dir: string, rel: string, what: { data: Buffer } | { src: string }, owner: Owner): Promise<void> {
  const path = join(dir, rel);
  try {
    await parents(dir, rel, owner);
    // Executable, as go-judge makes copied-in files: a compiled binary carried by fileId must run.
    if ('data' in what) await writeFile(path, what.data, { mode: 0o755, flag: 'wx' });
    else await copyFile(what.src, path, constants.COPYFILE_EXCL);
    if (owner !== null) await chown(path, owner.uid, owner.gid);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if ('src' in what && err.code === 'ENOENT' && err.path === what.src) throw fail(rel, 'CopyInOpenFile', err.message);
    throw fail(rel, 'CopyInCreateFile', err.message);
  }
}

export async function putSymlink(dir: string, rel: string, target: string, owner: Owner): Promise<void> {
  try {
    await parents(dir, rel, owner);
    await symlink(target, join(dir, rel));
    if (owner !== null) await chown(join(dir, rel), owner.uid, owner.gid).catch(() => {});
  } catch (e) {
    throw fail(rel, 'CopyInCreateFile', (e as Error).message);
  }
}

/** Whether `rel` is a regular file in `dir` (no component a link). */
export async function isRegularFile(dir: string, rel: string): Promise<boolean> {
  try {
    await walk(dir, rel);
    return true;
  } catch {
    return false;
  }
}

async function walk(dir: string, rel: string): Promise<string> {
  const parts = rel.split('/');
  let at = dir;
  for (const [i, p] of parts.entries()) {
    at = join(at, p);
    let st;
    try {
      st = await lstat(at);
    } catch (e) {
      throw fail(rel, 'CopyOutOpen', (e as Error).message);
    }
    const last = i === parts.length - 1;
    if (last ? !st.isFile() : !st.isDirectory())
      throw fail(rel, 'CopyOutNotRegularFile', last ? 'not a regular file' : `${p} is not a directory`);
  }
  return at;
}

/**
 * The contents of `rel` in `dir`, at most `max` bytes: past it, the first `max` bytes when
 * `truncate`, else a CopyOutSizeExceeded error.
 */
export async function takeFile(dir: string, rel: string, max: number, truncate: boolean): Promise<Buffer> {
  const path = await walk(dir, rel);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw fail(rel, 'CopyOutOpen', (e as Error).message);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw fail(rel, 'CopyOutNotRegularFile', 'not a regular file');
    if (st.size > max && !truncate) throw fail(rel, 'CopyOutSizeExceeded', `${st.size} bytes, more than ${max}`);
    const want = Math.min(st.size, max);
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(buf, got, want - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === want ? buf : buf.subarray(0, got);
  } catch (e) {
    if (e instanceof WorkFileError) throw e;
    throw fail(rel, 'CopyOutCopyContent', (e as Error).message);
  } finally {
    await handle.close();
  }
}

/** Removes everything in `dir`, keeping `dir` itself (a warm sandbox has it mounted as /w). */
export async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir);
  await Promise.all(names.map((n) => rm(join(dir, n), { recursive: true, force: true, maxRetries: 2 })));
}
