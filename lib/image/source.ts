// Where image names come from: the store (lib/image/index.ts) resolves a name to a ResolvedImage
// and makes its flattened tree on request. The run side asks only this.
import { SandboxError } from '../errors.js';
import type { ResolvedImage } from './types.js';

export interface ImageSource {
  resolve(ref: string): ResolvedImage;
  /** Makes (once) the image's flattened tree and returns its path. */
  flatten(ref: string): Promise<string>;
}

function noStore(ref: string): SandboxError {
  return new SandboxError(`image ${JSON.stringify(ref)}: this build has no image store (lib/image/index.ts)`, { stage: 'image' });
}

/** The store's resolve and flatten, once lib/image/index.ts exports resolveImage and flattenImage. */
export const storeSource: ImageSource = {
  resolve: (ref) => {
    throw noStore(ref);
  },
  flatten: (ref) => Promise.reject(noStore(ref)),
};
