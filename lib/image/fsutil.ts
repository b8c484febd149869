// Small file-system steps the store repeats: atomic writes, staging directories, removing trees an
// extraction left read-only.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Writes DATA to PATH by writing a sibling and renaming it over PATH: readers see old or new, whole. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** A fresh directory under TMP named after this process (so a dead process's leftovers are known). */
export function makeStaging(tmp: string, label: string): string {
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  const dir = join(tmp, `${process.pid}-${label}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}

/** The pid a staging entry's name starts with, or null. */
export function stagingOwner(name: string): number | null {
  const m = /^(\d+)-/.exec(name);
  return m ? Number(m[1]) : null;
}

/** rm -rf that also goes through directories an image made unwritable (mode 0555 and the like). */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw e;
  }
  makeWritable(path);
  rmSync(path, { recursive: true, force: true });
}

function makeWritable(dir: string): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  if ((st.mode & 0o700) !== 0o700) chmodSync(dir, (st.mode & 0o7777) | 0o700);
  for (const name of readdirSync(dir)) makeWritable(join(dir, name));
}

/** Moves PATH out of sight into TMP, then removes it: readers never see a half-removed tree. */
export function removeAtomically(path: string, tmp: string): void {
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  const aside = join(tmp, `${process.pid}-gone-${randomBytes(6).toString('hex')}`);
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  removeTree(aside);
}
