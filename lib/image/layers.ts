// What an image's root shows at a path, read from its layer trees on the host without mounting
// them: the top layer that has the path wins, and a whiteout (a 0/0 character device, the form the
// store keeps) of the path or of a directory above it in a higher layer hides it. Opaque
// directories (an xattr, which Node cannot read) are not seen here: where the store has made the
// flattened tree, it is read instead, and it has them applied.
import { lstatSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedImage } from './types.js';

/** The most bytes of /etc/passwd or /etc/group read (a real one is a few KiB). */
const MAX_IDENTITY_FILE = 1 << 20;

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** The trees that hold the root, top first: the flattened one alone when it is made. */
function trees(image: ResolvedImage): string[] {
  return image.flat !== null ? [image.flat] : [...image.layers].reverse();
}

/**
 * The host path of `path` (absolute, normalised) as the image's root shows it, with its lstat, or
 * null when the root has nothing there. Symlinks are not followed.
 */
export function lookupInImage(image: ResolvedImage, path: string): { host: string; stat: Stats } | null {
  const parts = path.split('/').filter((p) => p !== '');
  for (const tree of trees(image)) {
    // A whiteout of the path or of a directory above it hides everything below this layer.
    for (let i = 1; i <= parts.length; i++) {
      const st = lstatOrNull(join(tree, ...parts.slice(0, i)));
      if (st === null) break;
      if (isWhiteout(st)) return null;
      if (i === parts.length) return { host: join(tree, ...parts), stat: st };
      // Anything else there (a file, a symlink) hides the directories of the layers below.
      if (!st.isDirectory()) return null;
    }
  }
  return null;
}

export function existsInImage(image: ResolvedImage, path: string): boolean {
  return path === '/' || lookupInImage(image, path) !== null;
}

/** A small regular file of the image (/etc/passwd), or null when it has none. */
export function readImageFile(image: ResolvedImage, path: string): string | null {
  const found = lookupInImage(image, path);
  if (found === null || !found.stat.isFile() || found.stat.size > MAX_IDENTITY_FILE) return null;
  try {
    return readFileSync(found.host, 'utf8');
  } catch {
    return null;
  }
}
