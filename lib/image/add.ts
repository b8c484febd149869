// What pull and import share: given an image's config and a way to read each layer, stage the
// layers the store lacks (concurrently), then commit the image and its names in one locked step.
// Every failure leaves the store as it was: staging lives in STORE/tmp and is removed on the way out
// (or, after a kill, by the next operation: lib/image/store.ts cleanStaging).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';
import { ingestLayer, type LayerSource } from './blob.js';
import { LayerError } from './extract.js';
import { makeStaging, removeTree } from './fsutil.js';
import type { StorePaths } from './paths.js';
import { counted, throttled, type ImageProgress, type ProgressFn } from './progress.js';
import { platformOf, runConfigOf, type ImageRecord, type LayerRecord, type OciConfig } from './record.js';
import { cleanStaging, commitImage, ensureStore, knownLayerSize } from './store.js';

export interface LayerPlan {
  /** The config's diff id for this layer, or null when only the content will tell (a rootfs tar). */
  diffId: string | null;
  /** Compressed size, when known (progress). */
  size: number | null;
  /** Opens the layer's bytes (called only when the store lacks the layer). */
  open(): Promise<LayerSource> | LayerSource;
}

export interface ImagePlan {
  /** The image as the caller named it (messages and progress). */
  image: string;
  configBytes: Buffer;
  layers: LayerPlan[];
  names: string[];
  manifest: { digest: string; bytes: Buffer } | null;
  concurrency: number;
}

export interface AddResult {
  id: string;
  names: string[];
  platform: string;
  layers: number;
  /** Layers the store already held. */
  layersShared: number;
}

export function imageError(image: string, step: string, e: unknown): SandboxError {
  if (e instanceof SandboxError) return e;
  const err = e as Error & { code?: string; name?: string };
  let cause: string;
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') cause = err.name === 'TimeoutError' ? 'timed out' : 'aborted';
  else if (err instanceof LayerError) cause = err.message;
  else if (err?.code === 'ENOSPC') cause = 'no space left on the device';
  else cause = err?.message ?? String(e);
  return new SandboxError(`image ${JSON.stringify(image)}: ${step}: ${cause}`, { stage: 'image', cause: e });
}

export async function addImage(p: StorePaths, plan: ImagePlan, onProgress?: ProgressFn, signal?: AbortSignal): Promise<AddResult> {
  let config: OciConfig;
  try {
    config = JSON.parse(plan.configBytes.toString('utf8')) as OciConfig;
  } catch (e) {
    throw imageError(plan.image, 'config', new LayerError(`the image config is not JSON (${(e as Error).message})`));
  }
  const diffIds = config.rootfs?.diff_ids;
  if (plan.layers.some((l) => l.diffId !== null) && (!Array.isArray(diffIds) || diffIds.length !== plan.layers.length)) {
    throw imageError(
      plan.image,
      'config',
      new LayerError(`the config lists ${diffIds?.length ?? 0} layers, the manifest ${plan.layers.length}`),
    );
  }
  ensureStore(p);
  try {
    cleanStaging(p);
  } catch {
    // another process is cleaning the same entries
  }
  const staging = makeStaging(p.tmp, 'add');
  const report = throttled(onProgress);
  const progress: ImageProgress = {
    image: plan.image,
    step: 'layers',
    layersDone: 0,
    layersTotal: plan.layers.length,
    bytesDone: 0,
    bytesTotal: plan.layers.every((l) => l.size !== null) ? plan.layers.reduce((n, l) => n + (l.size ?? 0), 0) : null,
    layersShared: 0,
  };
  try {
    const staged = new Map<string, string>();
    const records: (LayerRecord | null)[] = plan.layers.map(() => null);
    const sizes = new Map<string, number>();
    const fetchLayer = async (i: number): Promise<void> => {
      const l = plan.layers[i]!;
      if (l.diffId !== null && (existsSync(p.layer(l.diffId)) || staged.has(l.diffId))) {
        progress.layersShared++;
        progress.bytesDone += l.size ?? 0;
        records[i] = { diffId: l.diffId, size: -1 };
      } else {
        const src = await l.open();
        const dir = join(staging, `layer-${i}`);
        const got = await ingestLayer(
          {
            ...src,
            bytes: counted(src.bytes, (n) => {
              progress.bytesDone += n;
              report(progress);
            }),
          },
          dir,
          signal,
        );
        if (!staged.has(got.diffId)) staged.set(got.diffId, dir);
        sizes.set(got.diffId, got.size);
        records[i] = { diffId: got.diffId, size: got.size };
      }
      progress.layersDone++;
      report(progress);
    };
    const run = async (indexes: number[]): Promise<void> => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < indexes.length) {
          signal?.throwIfAborted();
          await fetchLayer(indexes[next++]!);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.concurrency, indexes.length)) }, worker));
    };
    report(progress);
    try {
      await run(plan.layers.map((_, i) => i));
    } catch (e) {
      throw imageError(plan.image, 'layers', e);
    }

    // A rootfs tar's config is made here, from the diff id its content had.
    let configBytes = plan.configBytes;
    if (plan.layers.some((l) => l.diffId === null)) {
      config.rootfs = { type: 'layers', diff_ids: records.map((r) => r!.diffId) };
      configBytes = Buffer.from(JSON.stringify(config));
    }
    const id = 'sha256:' + createHash('sha256').update(configBytes).digest('hex');
    const blobs = new Map<string, Buffer>([[id, configBytes]]);
    if (plan.manifest) blobs.set(plan.manifest.digest, plan.manifest.bytes);
    progress.step = 'commit';
    report(progress);
    for (let attempt = 0; ; attempt++) {
      const layerRecords = records.map((r) => ({ diffId: r!.diffId, size: r!.size >= 0 ? r!.size : knownLayerSize(p, r!.diffId) }));
      const record: ImageRecord = {
        schema: 1,
        id,
        platform: platformOf(config),
        created: typeof config.created === 'string' ? config.created : null,
        layers: layerRecords,
        config: runConfigOf(config),
        manifestDigest: plan.manifest?.digest ?? null,
        stored: new Date().toISOString(),
      };
      let missing: string[];
      try {
        missing = await commitImage(p, { record, names: plan.names, staged, blobs }, signal);
      } catch (e) {
        throw imageError(plan.image, 'commit', e);
      }
      if (missing.length === 0) break;
      if (attempt >= 2) throw imageError(plan.image, 'commit', new Error('layers keep being removed by concurrent image removals'));
      // Removed by a concurrent `rm` after we found them: fetch those again.
      const again = plan.layers.map((l, i) => (l.diffId !== null && missing.includes(l.diffId) ? i : -1)).filter((i) => i >= 0);
      try {
        await run(again);
      } catch (e) {
        throw imageError(plan.image, 'layers', e);
      }
    }
    progress.step = 'done';
    onProgress?.({ ...progress });
    return {
      id,
      names: plan.names,
      platform: platformOf(config),
      layers: plan.layers.length,
      layersShared: progress.layersShared,
    };
  } finally {
    removeTree(staging);
  }
}
