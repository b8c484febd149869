// What pull and import report while they work (the CLI draws it; the API hands it to onProgress).

export interface ImageProgress {
  /** The image being added, as the caller named it. */
  image: string;
  /** 'resolve' (manifest, config), 'layers' (fetching and extracting), 'commit', 'done'. */
  step: 'resolve' | 'layers' | 'commit' | 'done';
  layersDone: number;
  layersTotal: number;
  /** Compressed bytes read so far, over all layers. */
  bytesDone: number;
  /** The sum of the layers' compressed sizes, when known. */
  bytesTotal: number | null;
  /** Layers the store already held (not fetched again). */
  layersShared: number;
}

export type ProgressFn = (p: ImageProgress) => void;

/** Counts bytes of SOURCE as they pass. */
export async function* counted(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** Calls FN at most every INTERVAL ms, and always for a step change. */
export function throttled(fn: ProgressFn | undefined, interval = 100): ProgressFn {
  let last = 0;
  let lastStep = '';
  return (p) => {
    if (!fn) return;
    const now = Date.now();
    if (p.step !== lastStep || now - last >= interval || p.layersDone === p.layersTotal) {
      last = now;
      lastStep = p.step;
      fn({ ...p });
    }
  };
}
