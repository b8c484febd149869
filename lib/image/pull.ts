// `sandbox image pull REF`: manifest (an index picks the platform), config, layers fetched
// concurrently, each blob verified against its digest while it streams (lib/image/blob.ts).
import { createHash } from 'node:crypto';
import { addImage, imageError, type AddResult, type LayerPlan } from './add.js';
import { LayerError } from './extract.js';
import { platformMatches } from './import.js';
import type { ProgressFn } from './progress.js';
import { hostPlatform } from './record.js';
import { formatRef, parseRef } from './ref.js';
import { Registry, type RegistryOptions } from './registry.js';
import { storePaths, type StoreOptions } from './store.js';

export interface PullOptions extends StoreOptions {
  /** `linux/amd64`, `linux/arm64` (default: the host's). */
  platform?: string;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** No response headers for this long: the pull fails (default 30 s). */
  timeoutMs?: number;
  /** A transfer with no bytes for this long fails (default 30 s). */
  idleTimeoutMs?: number;
  /** Layers fetched at once (default 3). */
  concurrency?: number;
  /** Where credentials and the like are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface PullResult extends AddResult {
  /** The digest of the manifest pulled (what `name@sha256:...` pins). */
  manifestDigest: string;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
]);

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

function checkDescriptor(d: Descriptor | undefined, what: string): asserts d is Descriptor & { digest: string } {
  if (!d || typeof d.digest !== 'string' || !DIGEST.test(d.digest)) {
    throw new LayerError(`${what} has digest ${JSON.stringify(d?.digest)} (only sha256 is accepted)`);
  }
}

export async function pullImage(ref: string, opts: PullOptions = {}): Promise<PullResult> {
  const r = parseRef(ref);
  const name = formatRef(r);
  const want = opts.platform ?? hostPlatform();
  const registryOpts: RegistryOptions = {
    timeoutMs: opts.timeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    signal: opts.signal,
    env: opts.env,
  };
  const reg = new Registry(r.registry, r.repository, registryOpts);
  opts.onProgress?.({ image: ref, step: 'resolve', layersDone: 0, layersTotal: 0, bytesDone: 0, bytesTotal: null, layersShared: 0 });

  let manifestBytes: Buffer;
  let manifestDigest: string;
  let manifest: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[]; schemaVersion?: number };
  let configBytes: Buffer;
  try {
    const first = await reg.getSmall(`manifests/${r.digest ?? r.tag}`, MANIFEST_TYPES);
    manifestBytes = first.bytes;
    manifestDigest = sha256(manifestBytes);
    if (r.digest !== null && manifestDigest !== r.digest) {
      throw new LayerError(`manifest digest mismatch: content is ${manifestDigest}, asked for ${r.digest}`);
    }
    if (r.digest === null && first.digest && DIGEST.test(first.digest) && first.digest !== manifestDigest) {
      throw new LayerError(`manifest digest mismatch: content is ${manifestDigest}, the registry says ${first.digest}`);
    }
    manifest = JSON.parse(manifestBytes.toString('utf8')) as typeof manifest;
    if (Array.isArray(manifest.manifests)) {
      const pick = manifest.manifests.find((m) => platformMatches(m, want));
      if (!pick) {
        const have = manifest.manifests
          .map((m) => `${m.platform?.os}/${m.platform?.architecture}${m.platform?.variant ? '/' + m.platform.variant : ''}`)
          .join(', ');
        throw new LayerError(`no ${want} image in the index (it has ${have})`);
      }
      checkDescriptor(pick, 'the index entry');
      const second = await reg.getSmall(`manifests/${pick.digest}`, MANIFEST_TYPES);
      manifestBytes = second.bytes;
      manifestDigest = sha256(manifestBytes);
      if (manifestDigest !== pick.digest)
        throw new LayerError(`manifest digest mismatch: content is ${manifestDigest}, the index says ${pick.digest}`);
      manifest = JSON.parse(manifestBytes.toString('utf8')) as typeof manifest;
    }
    if (manifest.schemaVersion !== 2 || !Array.isArray(manifest.layers)) {
      throw new LayerError(
        `unsupported manifest (${manifest.mediaType ?? 'schema ' + manifest.schemaVersion}): not an OCI or docker v2 image manifest`,
      );
    }
    checkDescriptor(manifest.config, 'the config');
    const cfg = await reg.getSmall(`blobs/${manifest.config.digest}`, [], 4 << 20);
    configBytes = cfg.bytes;
    if (sha256(configBytes) !== manifest.config.digest) {
      throw new LayerError(`config digest mismatch: content is ${sha256(configBytes)}, the manifest says ${manifest.config.digest}`);
    }
    const c = JSON.parse(configBytes.toString('utf8')) as { os?: string; architecture?: string };
    const got = `${c.os}/${c.architecture}`;
    if (opts.platform !== undefined && !want.startsWith(got)) {
      throw new LayerError(`the image is ${got}, not ${want}`);
    }
  } catch (e) {
    throw imageError(ref, 'manifest', e);
  }
  const diffIds = (JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  const layers: LayerPlan[] = manifest.layers!.map((l, i) => {
    try {
      checkDescriptor(l, `layer ${i + 1}`);
      if (l.mediaType !== undefined && !LAYER_TYPES.has(l.mediaType)) {
        throw new LayerError(`layer ${l.digest} has media type ${l.mediaType}, which is not a layer this store reads`);
      }
    } catch (e) {
      throw imageError(ref, 'manifest', e);
    }
    return {
      diffId: diffIds[i] ?? null,
      size: typeof l.size === 'number' ? l.size : null,
      open: async () => {
        const { body } = await reg.get(`blobs/${l.digest}`);
        return {
          bytes: body(),
          digest: l.digest,
          size: typeof l.size === 'number' ? l.size : null,
          diffId: diffIds[i] ?? null,
          what: `layer ${l.digest}`,
        };
      },
    };
  });
  const names = [name];
  const result = await addImage(
    storePaths(opts),
    {
      image: ref,
      configBytes,
      layers,
      names,
      manifest: { digest: manifestDigest, bytes: manifestBytes },
      concurrency: opts.concurrency ?? 3,
    },
    opts.onProgress,
    opts.signal,
  );
  return { ...result, manifestDigest };
}
