// `sandbox image import PATH [NAME[:TAG]]`: a docker/podman save archive, an OCI image layout
// (directory or tar), or a plain root filesystem tar (gzip, zstd or none), told apart by content.
import { createReadStream, existsSync, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Header } from 'tar';
import { SandboxError } from '../errors.js';
import { addImage, imageError, type AddResult, type ImagePlan, type LayerPlan } from './add.js';
import { sniffCompression } from './blob.js';
import { LayerError } from './extract.js';
import type { ProgressFn } from './progress.js';
import { hostPlatform, type OciConfig } from './record.js';
import { normalizeRef, parseRef, formatRef } from './ref.js';
import { storePaths, type StoreOptions } from './store.js';
import { TarIndex } from './tarindex.js';

export interface ImportOptions extends StoreOptions {
  /** NAME[:TAG] for the image; required when the archive names none, unless `nameless`. */
  name?: string;
  /** A root filesystem tar without NAME is kept without a name (`<none>`; `prune` removes it): a run of `--rootfs FILE`. */
  nameless?: boolean;
  /** For an OCI layout holding several platforms: `linux/arm64`; default the host's. */
  platform?: string;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

export type ImportFormat = 'docker-archive' | 'oci-layout' | 'oci-archive' | 'rootfs';

export interface ImportResult extends AddResult {
  format: ImportFormat;
}

/** Reads members of an archive or layout by name. */
interface Source {
  readSmall(name: string): Buffer;
  stream(name: string): { bytes: AsyncIterable<Buffer>; size: number };
  has(name: string): boolean;
}

function dirSource(dir: string): Source {
  const path = (name: string): string => {
    const parts = name.split('/').filter((s) => s !== '' && s !== '.');
    if (parts.includes('..')) throw new LayerError(`the layout names ${JSON.stringify(name)}, outside it`);
    return join(dir, ...parts);
  };
  return {
    has: (name) => existsSync(path(name)),
    readSmall: (name) => {
      try {
        return readFileSync(path(name));
      } catch {
        throw new LayerError(`the layout has no ${JSON.stringify(name)}`);
      }
    },
    stream: (name) => {
      const file = path(name);
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new LayerError(`the layout has no ${JSON.stringify(name)}`);
      }
      return { bytes: createReadStream(file, { highWaterMark: 1 << 20 }), size };
    },
  };
}

function readHead(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export async function importImage(path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const label = opts.name ?? path;
  const p = storePaths(opts);
  let name: string | null = null;
  if (opts.name !== undefined) name = normalizeRef(opts.name);
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw imageError(label, 'open', new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
  }
  let format: ImportFormat;
  let plans: ImagePlan[];
  try {
    if (st.isDirectory()) {
      if (!existsSync(join(path, 'oci-layout'))) {
        throw new LayerError(`unknown format: ${path} is a directory without an oci-layout file (not an OCI image layout)`);
      }
      format = 'oci-layout';
      plans = ociPlans(dirSource(path), label, name, opts.name, opts.platform);
    } else {
      const head = readHead(path, 512);
      const compression = sniffCompression(head);
      if (compression !== 'none') {
        format = 'rootfs';
        plans = [rootfsPlan(path, st.size, label, name, opts.nameless === true)];
      } else {
        if (head.length < 512 || !new Header(head).cksumValid) {
          throw new LayerError(`unknown format: ${path} is not a tar archive (nor gzip or zstd compressed)`);
        }
        const index = new TarIndex(path, st.size, 4096);
        if (!index.truncatedIndex && index.has('manifest.json')) {
          format = 'docker-archive';
          plans = dockerPlans(index, label, name);
        } else if (!index.truncatedIndex && index.has('oci-layout') && index.has('index.json')) {
          format = 'oci-archive';
          plans = ociPlans(index, label, name, opts.name, opts.platform);
        } else {
          format = 'rootfs';
          plans = [rootfsPlan(path, st.size, label, name, opts.nameless === true)];
        }
      }
    }
  } catch (e) {
    throw imageError(label, 'read', e);
  }
  let last: AddResult | null = null;
  const names: string[] = [];
  for (const plan of plans) {
    last = await addImage(p, plan, opts.onProgress, opts.signal);
    names.push(...last.names);
  }
  return { ...last!, names, format };
}

function requireName(label: string, name: string | null, what: string): string {
  if (name === null) {
    throw new SandboxError(
      `image ${JSON.stringify(label)}: import: ${what} names no image: give NAME[:TAG] ('sandbox image import PATH NAME')`,
      { stage: 'image' },
    );
  }
  return name;
}

function rootfsPlan(file: string, size: number, label: string, name: string | null, nameless: boolean): ImagePlan {
  const names = nameless && name === null ? [] : [requireName(label, name, 'a root filesystem tar')];
  const config: OciConfig = {
    architecture: hostPlatform().split('/')[1],
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const layer: LayerPlan = {
    diffId: null,
    size,
    open: () => ({ bytes: createReadStream(file, { highWaterMark: 1 << 20 }), digest: null, size: null, diffId: null, what: file }),
  };
  return { image: label, configBytes: Buffer.from(JSON.stringify(config)), layers: [layer], names, manifest: null, concurrency: 1 };
}

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

function dockerPlans(src: Source, label: string, name: string | null): ImagePlan[] {
  let entries: DockerManifestEntry[];
  try {
    entries = JSON.parse(src.readSmall('manifest.json').toString('utf8')) as DockerManifestEntry[];
  } catch (e) {
    throw e instanceof LayerError ? e : new LayerError(`manifest.json is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(entries) || entries.length === 0) throw new LayerError('manifest.json lists no image');
  return entries.map((m) => {
    if (typeof m.Config !== 'string' || !Array.isArray(m.Layers)) throw new LayerError('manifest.json: an entry without Config or Layers');
    const configBytes = src.readSmall(m.Config);
    const config = parseConfig(configBytes);
    const diffIds = config.rootfs?.diff_ids ?? [];
    const tags = (m.RepoTags ?? []).map((t) => normalizeRef(t));
    const names = name !== null ? [name] : tags;
    requireName(label, names[0] ?? null, 'the archive');
    const layers: LayerPlan[] = m.Layers.map((file, i) => ({
      diffId: diffIds[i] ?? null,
      size: src.stream(file).size,
      open: () => ({ ...src.stream(file), digest: null, diffId: diffIds[i] ?? null, what: `layer ${file}` }),
    }));
    if (layers.length !== diffIds.length) throw new LayerError(`the config lists ${diffIds.length} layers, manifest.json ${layers.length}`);
    return { image: label, configBytes, layers, names, manifest: null, concurrency: 1 };
  });
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

interface OciIndex {
  manifests?: Descriptor[];
}

interface OciManifest {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function blobPath(d: Descriptor): string {
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest))
    throw new LayerError(`a descriptor has digest ${JSON.stringify(d.digest)} (only sha256 is read)`);
  return `blobs/sha256/${d.digest.slice(7)}`;
}

function readVerified(src: Source, d: Descriptor): Buffer {
  const data = src.readSmall(blobPath(d));
  const got = 'sha256:' + createHash('sha256').update(data).digest('hex');
  if (got !== d.digest) throw new LayerError(`blob ${d.digest}: digest mismatch (content is ${got})`);
  return data;
}

function parseConfig(bytes: Buffer): OciConfig {
  try {
    return JSON.parse(bytes.toString('utf8')) as OciConfig;
  } catch (e) {
    throw new LayerError(`the image config is not JSON (${(e as Error).message})`);
  }
}

export function platformMatches(d: Descriptor, want: string): boolean {
  const [os, arch, variant] = want.split('/');
  if (!d.platform) return false;
  return d.platform.os === os && d.platform.architecture === arch && (variant === undefined || d.platform.variant === variant);
}

/** An OCI layout: every manifest of index.json (an index inside picks the platform). */
function ociPlans(src: Source, label: string, name: string | null, rawName: string | undefined, platform?: string): ImagePlan[] {
  const index = JSON.parse(src.readSmall('index.json').toString('utf8')) as OciIndex;
  const want = platform ?? hostPlatform();
  const manifests = index.manifests ?? [];
  if (manifests.length === 0) throw new LayerError('index.json lists no manifest');
  // With several manifests, those carrying a platform are filtered to the one wanted.
  let chosen = manifests;
  if (manifests.length > 1 && manifests.some((m) => m.platform)) {
    chosen = manifests.filter((m) => !m.platform || platformMatches(m, want));
    if (chosen.length === 0)
      throw new LayerError(
        `no manifest for ${want} (the layout has ${manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?')).join(', ')})`,
      );
  }
  const plans: ImagePlan[] = [];
  for (const d of chosen) {
    let mdesc = d;
    let mbytes = readVerified(src, mdesc);
    let manifest = JSON.parse(mbytes.toString('utf8')) as OciManifest;
    if (Array.isArray(manifest.manifests)) {
      const pick = manifest.manifests.find((m) => platformMatches(m, want));
      if (!pick) throw new LayerError(`no manifest for ${want} in the image index ${mdesc.digest}`);
      mdesc = pick;
      mbytes = readVerified(src, mdesc);
      manifest = JSON.parse(mbytes.toString('utf8')) as OciManifest;
    }
    if (!manifest.config || !Array.isArray(manifest.layers)) throw new LayerError(`manifest ${mdesc.digest} has no config or layers`);
    const configBytes = readVerified(src, manifest.config);
    const config = parseConfig(configBytes);
    const diffIds = config.rootfs?.diff_ids ?? [];
    const refName = d.annotations?.['org.opencontainers.image.ref.name'] ?? null;
    const names: string[] = [];
    if (name !== null) {
      const r = parseRef(name);
      // `import layout NAME` with a bare tag in the layout (skopeo's oci:DIR:TAG): NAME gets that tag
      // unless NAME gave one.
      if (refName && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(refName) && rawName !== undefined && !/:[^/]+$/.test(rawName.replace(/@.*$/, '')))
        r.tag = refName;
      names.push(formatRef(r));
    } else if (refName && (refName.includes('/') || refName.includes(':'))) {
      names.push(normalizeRef(refName));
    } else if (d.annotations?.['io.containerd.image.name']) {
      names.push(normalizeRef(d.annotations['io.containerd.image.name']));
    }
    requireName(label, names[0] ?? null, 'the layout');
    const layers: LayerPlan[] = manifest.layers.map((l, i) => ({
      diffId: diffIds[i] ?? null,
      size: typeof l.size === 'number' ? l.size : null,
      open: () => ({
        bytes: src.stream(blobPath(l)).bytes,
        digest: l.digest!,
        size: typeof l.size === 'number' ? l.size : null,
        diffId: diffIds[i] ?? null,
        what: `layer ${l.digest}`,
      }),
    }));
    if (layers.length !== diffIds.length) throw new LayerError(`the config lists ${diffIds.length} layers, the manifest ${layers.length}`);
    plans.push({ image: label, configBytes, layers, names, manifest: { digest: mdesc.digest!, bytes: mbytes }, concurrency: 1 });
  }
  return plans;
}
