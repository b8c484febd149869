// Extracts one layer tar into a fresh directory, safely, as root or as an ordinary user.
//
// - Nothing is written outside DIR: a name with `..` refuses the layer, a leading `/` is dropped,
//   and no entry is ever written through a symbolic link (every parent is a directory this
//   extraction made or checked with lstat; files are opened O_EXCL|O_NOFOLLOW after what was there
//   is removed). Symbolic links are kept as written: they are resolved later inside the sandbox's
//   root, never here. A hard link must name an earlier non-directory entry of the same layer.
// - Whiteouts (`.wh.NAME`) become overlayfs whiteouts (a 0/0 character device) and `.wh..wh..opq`
//   marks its directory opaque (`user.overlay.opaque`, which an overlay mounted with `userxattr` in
//   the sandbox's user namespace reads; as root `trusted.overlay.opaque` too), so the layer can be
//   an overlay lowerdir as it is (Documentation/filesystems/overlayfs.rst).
// - Modes and mtimes are kept; setuid and setgid bits are dropped; device nodes and FIFOs are
//   skipped (counted); xattrs from the archive (file capabilities among them) are not applied.
// - Owners: as root the archive's uid/gid shifted into the foreign range (owners.ts); as an
//   ordinary user everything is the caller's.
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  chmodSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { Parser, type ReadEntry } from 'tar';
import { errnoText } from '../errno.js';
import { native } from '../native.js';
import { removeTree } from './fsutil.js';
import { storedOwner } from './owners.js';

export interface ExtractResult {
  /** Bytes of regular file content written. */
  size: number;
  entries: number;
  /** Device nodes, FIFOs and other entries not made. */
  skipped: number;
  whiteouts: number;
}

/** Thrown for a layer that is refused (unsafe or malformed); the message names the entry. */
export class LayerError extends Error {
  override name = 'LayerError';
}

const OPEN_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const KEEP_MODE = 0o1777; // rwx for all and the sticky bit; never setuid/setgid

interface DirMeta {
  mode: number;
  mtime: Date | null;
  uid: number;
  gid: number;
}

/** Splits a tar name into safe components: '' and '.' dropped, a leading '/' ignored, '..' refused. */
export function safeParts(name: string, what: string): string[] {
  const parts = name.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw new LayerError(`${what} ${JSON.stringify(name)} contains '..'`);
  if (name.includes('\0')) throw new LayerError(`${what} ${JSON.stringify(name)} contains a NUL byte`);
  return parts;
}

export class LayerWriter {
  private readonly parser: Parser;
  private readonly dirs = new Map<string, DirMeta>(); // relative path ('' = root) → final metadata
  private readonly asRoot = process.getuid?.() === 0;
  private failure: Error | null = null;
  private done: Promise<void>;
  readonly result: ExtractResult = { size: 0, entries: 0, skipped: 0, whiteouts: 0 };

  constructor(private readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o755 });
    this.dirs.set('', { mode: 0o755, mtime: null, uid: 0, gid: 0 });
    this.parser = new Parser({ strict: true });
    this.done = new Promise((resolve, reject) => {
      this.parser.on('entry', (e: ReadEntry) => this.onEntry(e));
      this.parser.on('error', (e: Error) => reject(this.failure ?? asLayerError(e)));
      this.parser.on('end', () => (this.failure ? reject(this.failure) : resolve()));
    });
    this.done.catch(() => {});
  }

  /** Feeds decompressed tar bytes; resolves when the parser can take more. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.parser.write(chunk)) await new Promise<void>((r) => this.parser.once('drain', r));
    if (this.failure) throw this.failure;
  }

  /** Ends the tar; applies directory modes and mtimes; resolves with the counts. */
  async end(): Promise<ExtractResult> {
    this.parser.end();
    await this.done;
    this.finishDirs();
    return this.result;
  }

  private onEntry(entry: ReadEntry): void {
    if (this.failure) {
      entry.resume();
      return;
    }
    try {
      this.place(entry);
    } catch (e) {
      this.failure = asLayerError(e);
      entry.resume();
      this.parser.abort(this.failure);
    }
  }

  private place(entry: ReadEntry): void {
    this.result.entries++;
    const parts = safeParts(entry.path, 'entry');
    const name = parts.at(-1) ?? '';
    const parent = parts.slice(0, -1);
    if (name.startsWith('.wh.')) {
      entry.resume();
      this.whiteout(parent, name.slice(4), entry.path);
      return;
    }
    const rel = parts.join('/');
    const abs = this.abs(rel);
    const mode = (entry.mode ?? 0o644) & KEEP_MODE;
    const uid = entry.uid ?? 0;
    const gid = entry.gid ?? 0;
    switch (entry.type) {
      case 'Directory':
      case 'GNUDumpDir': {
        entry.resume();
        if (rel !== '') {
          this.makeParents(parent);
          this.clearFor(rel, true);
          if (!this.dirs.has(rel)) mkdirSync(abs, { mode: 0o700 });
        }
        this.dirs.set(rel, { mode: (entry.mode ?? 0o755) & KEEP_MODE, mtime: entry.mtime ?? null, uid, gid });
        return;
      }
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        this.makeParents(parent);
        this.refuseRoot(rel, entry.path);
        this.clearFor(rel, false);
        const fd = openSync(abs, OPEN_NEW, 0o600);
        let closed = false;
        const close = (): void => {
          if (!closed) closeSync(fd);
          closed = true;
        };
        entry.on('data', (chunk: Buffer) => {
          if (closed || this.failure) return;
          try {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off);
            this.result.size += chunk.length;
          } catch (e) {
            close();
            this.failure = asLayerError(e, entry.path);
            this.parser.abort(this.failure);
          }
        });
        entry.on('end', () => {
          if (closed) return;
          try {
            fchmodSync(fd, mode);
            if (this.asRoot) fchownSync(fd, storedOwner(uid), storedOwner(gid));
            if (entry.mtime) futimesSync(fd, entry.mtime, entry.mtime);
          } catch (e) {
            this.failure ??= asLayerError(e, entry.path);
          } finally {
            close();
          }
        });
        return;
      }
      case 'SymbolicLink': {
        entry.resume();
        this.makeParents(parent);
        this.refuseRoot(rel, entry.path);
        this.clearFor(rel, false);
        const target = entry.linkpath ?? '';
        if (target === '' || target.includes('\0')) throw new LayerError(`symbolic link ${JSON.stringify(entry.path)} has no target`);
        symlinkSync(target, abs);
        if (this.asRoot) lchownSync(abs, storedOwner(uid), storedOwner(gid));
        if (entry.mtime) lutimesSync(abs, entry.mtime, entry.mtime);
        return;
      }
      case 'Link': {
        entry.resume();
        const targetParts = safeParts(entry.linkpath ?? '', `hard link ${JSON.stringify(entry.path)} → target`);
        const targetRel = targetParts.join('/');
        this.checkParents(targetParts.slice(0, -1), entry.linkpath ?? '');
        let st;
        try {
          st = lstatSync(this.abs(targetRel));
        } catch {
          throw new LayerError(
            `hard link ${JSON.stringify(entry.path)} names ${JSON.stringify(entry.linkpath)}, which is not an earlier entry of the layer`,
          );
        }
        if (st.isDirectory() || targetRel === '') throw new LayerError(`hard link ${JSON.stringify(entry.path)} names a directory`);
        this.makeParents(parent);
        this.refuseRoot(rel, entry.path);
        if (rel === targetRel) return;
        this.clearFor(rel, false);
        linkSync(this.abs(targetRel), abs);
        return;
      }
      default:
        // CharacterDevice, BlockDevice, FIFO and the rest: never made (no host device is reachable
        // through an image, and overlay whiteouts come from .wh. names, not from device entries).
        entry.resume();
        this.result.skipped++;
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private refuseRoot(rel: string, name: string): void {
    if (rel === '') throw new LayerError(`entry ${JSON.stringify(name)} would replace the layer's root`);
  }

  /** Makes sure every component of PARTS is a real directory of this layer, making missing ones. */
  private makeParents(parts: string[]): void {
    let rel = '';
    for (const p of parts) {
      rel = rel === '' ? p : `${rel}/${p}`;
      if (this.dirs.has(rel)) continue;
      const abs = this.abs(rel);
      let st;
      try {
        st = lstatSync(abs);
      } catch {
        mkdirSync(abs, { mode: 0o700 });
        this.dirs.set(rel, { mode: 0o755, mtime: null, uid: 0, gid: 0 });
        continue;
      }
      if (!st.isDirectory()) {
        throw new LayerError(
          `${JSON.stringify(rel)} is a ${st.isSymbolicLink() ? 'symbolic link' : 'file'}, and an entry would be written through it`,
        );
      }
      this.dirs.set(rel, { mode: 0o755, mtime: null, uid: 0, gid: 0 });
    }
  }

  /** Like makeParents, but nothing is made: for a hard link's target. */
  private checkParents(parts: string[], name: string): void {
    let rel = '';
    for (const p of parts) {
      rel = rel === '' ? p : `${rel}/${p}`;
      if (!this.dirs.has(rel)) throw new LayerError(`hard link target ${JSON.stringify(name)} is not inside a directory of the layer`);
    }
  }

  /** Removes what is at REL unless it is a directory and a directory is wanted. */
  private clearFor(rel: string, wantDir: boolean): void {
    const abs = this.abs(rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      if (wantDir) return;
      removeTree(abs);
      for (const k of [...this.dirs.keys()]) if (k === rel || k.startsWith(rel + '/')) this.dirs.delete(k);
      return;
    }
    unlinkSync(abs);
  }

  private whiteout(parent: string[], what: string, name: string): void {
    this.makeParents(parent);
    const dir = this.abs(parent.join('/'));
    const addon = native();
    if (what === '.wh..opq') {
      for (const attr of this.asRoot ? ['trusted.overlay.opaque', 'user.overlay.opaque'] : ['user.overlay.opaque']) {
        const r = addon.setXattr(dir, attr, 'y');
        if (r < 0)
          throw new LayerError(`cannot mark ${JSON.stringify(parent.join('/') || '/')} opaque (setxattr ${attr}): ${errnoText(-r)}`);
      }
      this.result.whiteouts++;
      return;
    }
    if (what.startsWith('.wh.')) {
      // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the image.
      this.result.skipped++;
      return;
    }
    if (what === '' || what === '.' || what === '..' || what.includes('/'))
      throw new LayerError(`whiteout ${JSON.stringify(name)} names nothing`);
    const rel = [...parent, what].join('/');
    this.clearFor(rel, false);
    const r = addon.makeWhiteout(this.abs(rel));
    if (r < 0) throw new LayerError(`cannot make the whiteout for ${JSON.stringify(rel)} (mknod 0/0): ${errnoText(-r)}`);
    this.result.whiteouts++;
  }

  /** Directory modes, owners and mtimes, deepest first (writing children changes a parent's mtime). */
  private finishDirs(): void {
    const entries = [...this.dirs.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, m] of entries) {
      const abs = this.abs(rel);
      if (this.asRoot) lchownSync(abs, storedOwner(m.uid), storedOwner(m.gid));
      // The layer's own root stays searchable by everyone: the sandbox's uid may not be its owner.
      chmodSync(abs, rel === '' ? m.mode | 0o755 : m.mode);
      if (m.mtime) utimesSync(abs, m.mtime, m.mtime);
    }
  }
}

function asLayerError(e: unknown, entryName?: string): Error {
  if (e instanceof LayerError) return e;
  const err = e as NodeJS.ErrnoException & { code?: string };
  const msg = err?.message ?? String(e);
  if (typeof err?.code === 'string' && err.code.startsWith('TAR_')) {
    return new LayerError(`not a valid tar archive (${msg.replace(/^TAR_[A-Z_]+: /, '')})`);
  }
  if (err?.code === 'ENOSPC')
    return new LayerError(`no space left on the device${entryName ? ` writing ${JSON.stringify(entryName)}` : ''}`);
  return new LayerError(entryName ? `${JSON.stringify(entryName)}: ${msg}` : msg);
}
