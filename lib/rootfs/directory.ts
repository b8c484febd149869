// A directory rootfs. It is bound read-only as it is when every mount point the plan needs
// already exists in it; otherwise it becomes the lower layer of an overlay whose upper layer is a
// throw-away tmpfs, so mount points can be made without changing the rootfs on disk.
import { lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';
import { MountOp, type NativeMount } from '../native-plan.js';

export function checkRootfs(rootfs: string): void {
  let st;
  try {
    st = statSync(rootfs);
  } catch (e) {
    throw new SandboxError(`rootfs ${rootfs} does not exist`, {
      stage: 'options',
      errno: (e as NodeJS.ErrnoException).errno ?? null,
      cause: e,
    });
  }
  if (st.isFile()) {
    throw new SandboxError(
      `rootfs ${rootfs} is a file, not a directory: import it as an image (importImage) and pass \`image\` (the CLI's --rootfs FILE does both)`,
      { stage: 'options' },
    );
  }
  if (!st.isDirectory()) throw new SandboxError(`rootfs ${rootfs} is not a directory`, { stage: 'options' });
}

/** Whether `dst` exists in the rootfs. Symlinks are not followed: init resolves them inside the root. */
function existsInRootfs(rootfs: string, dst: string): boolean {
  try {
    lstatSync(join(rootfs, dst));
    return true;
  } catch {
    return false;
  }
}

/**
 * `writableSize`: a writable root (an overlay whose tmpfs upper holds that many bytes), or null.
 * The overlay's lowerdir list is ':'-separated: a ':' in the path is escaped.
 */
export function directoryRootMount(rootfs: string, mountPoints: string[], writableSize: number | null): NativeMount {
  if (writableSize !== null) {
    return { op: MountOp.rootOverlay, src: rootfs.replaceAll(':', '\\:'), dst: '/', data: `mode=0755,size=${writableSize}`, flags: 0 };
  }
  const complete = mountPoints.every((dst) => existsInRootfs(rootfs, dst));
  return complete
    ? { op: MountOp.rootBind, src: rootfs, dst: '/', data: '', flags: 0 }
    : { op: MountOp.rootOverlay, src: rootfs.replaceAll(':', '\\:'), dst: '/', data: '', flags: 0 };
}
