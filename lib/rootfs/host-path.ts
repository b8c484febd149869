// Host paths handed to init, resolved as the host resolves them (symlinks followed). init looks
// them up from where the host's root is not always its root: in the staging area (a rootfs
// directory) the host's root is /oldroot, and an absolute symlink on the way (/etc/localtime →
// /usr/share/zoneinfo/..., /var/run → /run) would dangle there, while the default root, built in
// place, would follow it. Resolved here, both see the same path. A path that does not resolve
// (missing) is passed on as given: init reports it, or skips an optional one.
import { realpathSync } from 'node:fs';

export function hostPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}
