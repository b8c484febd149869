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
    throw new SandboxError(`rootfs ${rootfs} does not exist`, { stage: 'options', errno: (e as NodeJS.ErrnoException).errno ?? null, cause: e });
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

export function directoryRootMount(rootfs: string, mountPoints: string[]): NativeMount {
  const complete = mountPoints.every((dst) => existsInRootfs(rootfs, dst));
  return { op: complete ? MountOp.rootBind : MountOp.rootOverlay, src: rootfs, dst: '/', data: '', flags: 0 };
}
