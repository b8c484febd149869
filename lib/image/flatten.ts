// The overlay fallback: one directory holding an image's whole root, whiteouts applied, made once per
// image in STORE/flat/ID. Files are hard links to the layers' files (no data is copied; the trees are
// read-only to sandboxes either way), copies where a link is refused.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { native } from '../native.js';
import { imageError } from './add.js';
import { makeStaging, removeTree } from './fsutil.js';
import { withLock } from './lock.js';
import { resolveImage, storePaths, type StoreOptions } from './store.js';

const OPAQUE = ['user.overlay.opaque', 'trusted.overlay.opaque'];

function isOpaque(dir: string): boolean {
  const addon = native();
  return OPAQUE.some((a) => addon.getXattr(dir, a) === 'y');
}

interface DirFix {
  path: string;
  mode: number;
  atime: Date;
  mtime: Date;
  uid: number;
  gid: number;
}

/** Makes (once) and returns the flattened root of the image REF. */
export async function flattenImage(ref: string, opts: StoreOptions & { signal?: AbortSignal } = {}): Promise<string> {
  const img = resolveImage(ref, opts);
  if (img.flat !== null) return img.flat;
  const p = storePaths(opts);
  const staging = makeStaging(p.tmp, 'flat');
  const root = join(staging, 'root');
  const asRoot = process.getuid?.() === 0;
  try {
    mkdirSync(root, { mode: 0o755 });
    const fixes = new Map<string, DirFix>();
    let n = 0;
    const merge = async (src: string, dst: string): Promise<void> => {
      for (const name of readdirSync(src)) {
        if (++n % 512 === 0) {
          await yieldLoop();
          opts.signal?.throwIfAborted();
        }
        const s = join(src, name);
        const d = join(dst, name);
        const st = lstatSync(s);
        const there = lstatSync(d, { throwIfNoEntry: false });
        if (st.isCharacterDevice() && st.rdev === 0) {
          if (there) removeTree(d);
          continue;
        }
        if (st.isDirectory()) {
          if (there && (!there.isDirectory() || isOpaque(s))) removeTree(d);
          if (!existsSync(d) || !lstatSync(d).isDirectory()) mkdirSync(d, { mode: 0o700 });
          fixes.set(d, { path: d, mode: st.mode & 0o7777, atime: st.atime, mtime: st.mtime, uid: st.uid, gid: st.gid });
          await merge(s, d);
          continue;
        }
        if (there) {
          if (there.isDirectory()) removeTree(d);
          else unlinkSync(d);
        }
        if (st.isSymbolicLink()) {
          symlinkSync(readlinkSync(s), d);
          if (asRoot) lchownSync(d, st.uid, st.gid);
          lutimesSync(d, st.atime, st.mtime);
        } else {
          try {
            linkSync(s, d);
          } catch {
            copyFileSync(s, d);
            chmodSync(d, st.mode & 0o7777);
            if (asRoot) lchownSync(d, st.uid, st.gid);
            utimesSync(d, st.atime, st.mtime);
          }
        }
      }
    };
    for (const layer of img.layers) {
      const top = lstatSync(layer);
      fixes.set(root, { path: root, mode: top.mode & 0o7777, atime: top.atime, mtime: top.mtime, uid: top.uid, gid: top.gid });
      await merge(layer, root);
    }
    for (const f of [...fixes.values()].sort((a, b) => b.path.length - a.path.length)) {
      if (asRoot) lchownSync(f.path, f.uid, f.gid);
      chmodSync(f.path, f.mode);
      utimesSync(f.path, f.atime, f.mtime);
    }
    return await withLock(
      p.lock,
      () => {
        const dest = p.flat(img.id);
        if (existsSync(dest)) return dest;
        if (!existsSync(p.image(img.id))) throw new Error('the image was removed meanwhile');
        mkdirSync(p.flats, { recursive: true, mode: 0o755 });
        renameSync(root, dest);
        return dest;
      },
      opts.signal,
    );
  } catch (e) {
    throw imageError(ref, 'flatten', e);
  } finally {
    removeTree(staging);
  }
}
