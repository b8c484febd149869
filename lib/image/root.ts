// An image's layers → the mount that makes the sandbox's new root (csrc/init/mounts.cc builds it):
//   - overlayfs of the layers (lowerdirs only: read-only, nothing to copy or clean up), mounted by
//     init in the sandbox's user namespace; one layer is a read-only bind instead (overlayfs needs
//     two lowers without an upper);
//   - with a tmpfs upper when the run is writable (capped by its size, gone with the sandbox), or
//     when a mount point the run needs (/proc, /dev, /tmp, a bind's target, the working directory)
//     is missing from the image: it is made in that upper, and the root is read-only again before
//     the command starts;
//   - where overlayfs is refused (lib/image/overlay.ts), the flattened tree: bound read-only when
//     it has every mount point, else its top-level entries bound on a tmpfs root. A writable root
//     cannot be had without overlayfs: that is an error, not a silent copy.
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';
import { MountFlag, MountOp, type NativeMount } from '../native-plan.js';
import { existsInImage } from './layers.js';
import { overlaySupport } from './overlay.js';
import type { ResolvedImage } from './types.js';

/** What of an image a run needs to build its root. */
export interface ImageRoot {
  image: ResolvedImage;
  writable: boolean;
  /** Bytes the writable layer may hold. */
  writableSize: number;
}

/** mount(2) copies one page of options; init prefixes each layer with its 8-byte staging path and adds ~80 bytes. */
const MAX_LOWERDIR_BYTES = 4096 - 80 - 16;

let fallbackSaid = false;

function imageName(image: ResolvedImage): string {
  return JSON.stringify(image.ref);
}

/** The layers as overlayfs's lowerdir wants them: top first, ':' separated, a ':' in a path escaped. */
function lowerdirs(image: ResolvedImage): string {
  for (const layer of image.layers) {
    if (layer.includes(',') || layer.includes('\\')) {
      throw new SandboxError(
        `image ${imageName(image)}: layer path ${JSON.stringify(layer)} has a ',' or '\\', which overlayfs options cannot hold`,
        { stage: 'image' },
      );
    }
  }
  const list = [...image.layers]
    .reverse()
    .map((l) => l.replaceAll(':', '\\:'))
    .join(':');
  if (Buffer.byteLength(list) + 8 * image.layers.length > MAX_LOWERDIR_BYTES) {
    throw new SandboxError(
      `image ${imageName(image)}: its ${image.layers.length} layer paths are too long for one overlay mount (one page of options)`,
      { stage: 'image' },
    );
  }
  return list;
}

function tmpfsOptions(size: number | null): string {
  return size === null ? 'mode=0755' : `mode=0755,size=${size}`;
}

/** The flattened tree's top-level entries on a tmpfs root, as the default root shows the host's. */
function topLevelBinds(tree: string): NativeMount[] {
  const ops: NativeMount[] = [{ op: MountOp.rootTmpfs, src: '', dst: '/', data: '', flags: 0 }];
  for (const e of readdirSync(tree, { withFileTypes: true })) {
    const dst = `/${e.name}`;
    if (e.isSymbolicLink()) ops.push({ op: MountOp.symlink, src: readlinkSync(join(tree, e.name)), dst, data: '', flags: 0 });
    else if (e.isDirectory() || e.isFile())
      ops.push({ op: MountOp.bind, src: join(tree, e.name), dst, data: '', flags: MountFlag.readOnly });
  }
  return ops;
}

function flatRoot(root: ImageRoot, complete: boolean): NativeMount[] {
  const { image } = root;
  const support = overlaySupport();
  if (root.writable) {
    throw new SandboxError(
      `image ${imageName(image)}: a writable root needs overlayfs, which is refused here (${support.detail}); run it read-only, with tmpfs mounts where the program writes`,
      { stage: 'image' },
    );
  }
  const tree = image.layers.length === 1 ? image.layers[0]! : image.flat;
  if (tree === null) {
    throw new SandboxError(
      `image ${imageName(image)}: overlayfs is refused here and its flattened tree is not made yet: await sandbox.warm() before spawn()`,
      { stage: 'image' },
    );
  }
  if (!fallbackSaid) {
    fallbackSaid = true;
    process.emitWarning(`${support.detail}: images run from their flattened trees, bound read-only`, { code: 'SANDBOX_IMAGE_FLAT' });
  }
  return complete ? [{ op: MountOp.rootBind, src: tree, dst: '/', data: '', flags: 0 }] : topLevelBinds(tree);
}

/** Whether runs of this image need its flattened tree (overlayfs refused, more than one layer, none made). */
export function needsFlatTree(root: ImageRoot): boolean {
  return root.image.layers.length > 1 && root.image.flat === null && !overlaySupport().ok;
}

/**
 * The root mounts for `root` when the run needs `mountPoints` in it. `missing` lists those the image
 * lacks (made on the way, on a tmpfs: the caller adds a directory op for the working directory).
 */
export function imageRootMounts(root: ImageRoot, mountPoints: string[]): { mounts: NativeMount[]; missing: string[] } {
  const { image } = root;
  if (image.layers.length === 0) throw new SandboxError(`image ${imageName(image)} has no layers`, { stage: 'image' });
  const missing = mountPoints.filter((p) => !existsInImage(image, p));
  const complete = missing.length === 0;
  const single = image.layers.length === 1;
  if (!root.writable && complete && single) {
    return { mounts: [{ op: MountOp.rootBind, src: image.layers[0]!, dst: '/', data: '', flags: 0 }], missing };
  }
  if (!overlaySupport().ok) return { mounts: flatRoot(root, complete), missing };
  const upper = root.writable || !complete;
  const mount: NativeMount = {
    op: MountOp.rootOverlay,
    src: lowerdirs(image),
    dst: '/',
    data: upper ? tmpfsOptions(root.writable ? root.writableSize : null) : '',
    flags: upper ? 0 : MountFlag.readOnly,
  };
  return { mounts: [mount], missing };
}
