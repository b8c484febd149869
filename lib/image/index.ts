// The image store's surface: what the run side and the package's users call.
export { resolveImage, listImages, inspectImage, removeImage, pruneImages } from './store.js';
export type { ImageSummary, ImageDetails, RemoveResult, PruneResult, StoreOptions } from './store.js';
export { flattenImage } from './flatten.js';
export { importImage } from './import.js';
export type { ImportOptions, ImportResult, ImportFormat } from './import.js';
export { pullImage } from './pull.js';
export type { PullOptions, PullResult } from './pull.js';
export type { ImageProgress, ProgressFn } from './progress.js';
export type { ImageRunConfig, ResolvedImage } from './types.js';
export { defaultStoreDir } from './paths.js';
