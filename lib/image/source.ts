// Where image names come from: the store (lib/image/index.ts) resolves a name to a ResolvedImage
// and makes its flattened tree on request. The run side asks only this.
import { flattenImage, resolveImage } from './index.js';
import type { ResolvedImage } from './types.js';

export interface ImageSource {
  resolve(ref: string): ResolvedImage;
  /** Makes (once) the image's flattened tree and returns its path. */
  flatten(ref: string): Promise<string>;
}

export const storeSource: ImageSource = {
  resolve: (ref) => resolveImage(ref),
  flatten: (ref) => flattenImage(ref),
};
