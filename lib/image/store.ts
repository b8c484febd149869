// The image store: names → images → layers, content-addressed (lib/image/paths.ts has the layout).
// Readers take no lock: every file they read is replaced whole by rename. Writers change names,
// records and finished layers only while holding STORE/lock, and only by renames out of STORE/tmp.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { SandboxError } from '../errors.js';
import { removeAtomically, removeTree, stagingOwner, writeFileAtomic } from './fsutil.js';
import { pidAlive, withLock } from './lock.js';
import { defaultStoreDir, hexOf, StorePaths } from './paths.js';
import type { ImageRecord } from './record.js';
import { familiarRef, normalizeRef } from './ref.js';
import type { ResolvedImage } from './types.js';

export interface StoreOptions {
  /** The store's directory; default: lib/image/paths.ts defaultStoreDir(). */
  store?: string;
}

export function storePaths(opts: StoreOptions = {}): StorePaths {
  return new StorePaths(opts.store ?? defaultStoreDir());
}

/** names (normalised) → image ids. */
export type Refs = Record<string, string>;

export function readRefs(p: StorePaths): Refs {
  let text: string;
  try {
    text = readFileSync(p.refs, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  const refs = JSON.parse(text) as unknown;
  if (refs === null || typeof refs !== 'object' || Array.isArray(refs)) {
    throw new SandboxError(`image store ${p.root}: ${p.refs} is not a JSON object`, { stage: 'image' });
  }
  return refs as Refs;
}

export function readRecord(p: StorePaths, id: string): ImageRecord | null {
  try {
    return JSON.parse(readFileSync(p.image(id), 'utf8')) as ImageRecord;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function recordIds(p: StorePaths): string[] {
  try {
    return readdirSync(p.images)
      .filter((n) => /^[a-f0-9]{64}\.json$/.test(n))
      .map((n) => 'sha256:' + n.slice(0, 64));
  } catch {
    return [];
  }
}

export interface Found {
  /** The name it was found by (normalised), or the id when asked by id. */
  name: string;
  record: ImageRecord;
}

/** The image REF names: a name (normalised as docker does), a full id or an id prefix of 12+ hex. */
export function findImage(p: StorePaths, ref: string): Found | null {
  const idLike = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(ref);
  if (idLike) {
    const matches = recordIds(p).filter((id) => id.slice(7).startsWith(idLike[1]!));
    if (matches.length === 1) {
      const record = readRecord(p, matches[0]!);
      if (record) return { name: matches[0]!, record };
    }
    if (matches.length > 1) {
      throw new SandboxError(`image ${JSON.stringify(ref)}: the id prefix matches ${matches.length} images`, { stage: 'image' });
    }
    if (ref.startsWith('sha256:')) return null;
  }
  const name = normalizeRef(ref);
  const refs = readRefs(p);
  let id = refs[name];
  if (id === undefined && name.includes('@')) {
    // name:tag@digest also finds the image stored as name@digest.
    const bare = name.replace(/:[^:/@]+@/, '@');
    id = refs[bare];
  }
  if (id === undefined) return null;
  const record = readRecord(p, id);
  return record ? { name, record } : null;
}

function notFound(ref: string, p: StorePaths): SandboxError {
  return new SandboxError(
    `image ${JSON.stringify(ref)}: not in the image store ${p.root} (add it with 'sandbox image pull' or 'sandbox image import')`,
    { stage: 'image' },
  );
}

/**
 * The stored image REF names, ready to be a sandbox's root. Synchronous: it reads refs.json and one
 * image record. Throws a SandboxError (stage 'image') naming REF when the store does not hold it.
 */
export function resolveImage(ref: string, opts: StoreOptions = {}): ResolvedImage {
  const p = storePaths(opts);
  let found: Found | null;
  try {
    found = findImage(p, ref);
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw new SandboxError(`image ${JSON.stringify(ref)}: cannot read the image store ${p.root}: ${(e as Error).message}`, {
      stage: 'image',
      cause: e,
    });
  }
  if (found === null) throw notFound(ref, p);
  const { record } = found;
  const layers = record.layers.map((l) => p.layer(l.diffId));
  for (const dir of layers) {
    if (!existsSync(dir)) {
      throw new SandboxError(
        `image ${JSON.stringify(ref)}: layer ${dir} is missing from the store (run 'sandbox image pull' or 'import' again)`,
        { stage: 'image' },
      );
    }
  }
  const flat = p.flat(record.id);
  return {
    ref: found.name,
    id: record.id,
    layers,
    flat: existsSync(flat) ? flat : null,
    config: record.config,
    platform: record.platform,
  };
}

/** One row of `sandbox image ls`: a name and the image it holds. */
export interface ImageSummary {
  /** The normalised name, or null for an image no name holds (prune removes those). */
  name: string | null;
  /** The short form (`busybox:latest`). */
  familiarName: string | null;
  id: string;
  /** Bytes of file content of its layers once extracted. */
  size: number;
  created: string | null;
  platform: string;
}

export function listImages(opts: StoreOptions = {}): ImageSummary[] {
  const p = storePaths(opts);
  const refs = readRefs(p);
  const rows: ImageSummary[] = [];
  const named = new Set<string>();
  const summary = (name: string | null, r: ImageRecord): ImageSummary => ({
    name,
    familiarName: name === null ? null : familiarRef(name),
    id: r.id,
    size: r.layers.reduce((n, l) => n + l.size, 0),
    created: r.created,
    platform: r.platform,
  });
  for (const name of Object.keys(refs).sort()) {
    const r = readRecord(p, refs[name]!);
    if (r === null) continue;
    named.add(r.id);
    rows.push(summary(name, r));
  }
  for (const id of recordIds(p)) {
    if (named.has(id)) continue;
    const r = readRecord(p, id);
    if (r) rows.push(summary(null, r));
  }
  return rows;
}

export interface ImageDetails extends ImageRecord {
  /** Every name that holds this image. */
  names: string[];
  /** The extracted layer directories, lowest first. */
  layerDirs: string[];
}

export function inspectImage(ref: string, opts: StoreOptions = {}): ImageDetails {
  const p = storePaths(opts);
  const found = findImage(p, ref);
  if (found === null) throw notFound(ref, p);
  const refs = readRefs(p);
  return {
    ...found.record,
    names: Object.keys(refs)
      .filter((n) => refs[n] === found.record.id)
      .sort(),
    layerDirs: found.record.layers.map((l) => p.layer(l.diffId)),
  };
}

export interface RemoveResult {
  /** Names removed. */
  untagged: string[];
  /** Image ids whose records were removed (no name held them any more). */
  deleted: string[];
  /** Layers removed from the store. */
  layersRemoved: number;
}

/**
 * Removes the names REFS (an id removes every name of that image; an image no name holds, named by
 * its id, is collected with the rest), then what no name holds.
 */
export async function removeImage(refs: string | string[], opts: StoreOptions & { signal?: AbortSignal } = {}): Promise<RemoveResult> {
  const p = storePaths(opts);
  const list = Array.isArray(refs) ? refs : [refs];
  if (!existsSync(p.root)) throw notFound(list[0] ?? '', p);
  return withLock(
    p.lock,
    () => {
      const names = readRefs(p);
      const untagged: string[] = [];
      for (const ref of list) {
        const found = findImage(p, ref);
        if (found === null) throw notFound(ref, p);
        const byId = found.name === found.record.id;
        for (const n of Object.keys(names)) {
          if (byId ? names[n] === found.record.id : n === found.name) {
            delete names[n];
            untagged.push(n);
          }
        }
      }
      writeFileAtomic(p.refs, JSON.stringify(names, null, 1) + '\n');
      const { deleted, layersRemoved } = collect(p, names);
      return { untagged, deleted, layersRemoved };
    },
    opts.signal,
  );
}

export interface PruneResult {
  deleted: string[];
  layersRemoved: number;
  /** Staging directories of dead processes removed (killed pulls and imports). */
  stagingRemoved: number;
}

/** Removes images no name holds, layers no image uses, and what killed pulls left in STORE/tmp. */
export async function pruneImages(opts: StoreOptions & { signal?: AbortSignal } = {}): Promise<PruneResult> {
  const p = storePaths(opts);
  if (!existsSync(p.root)) return { deleted: [], layersRemoved: 0, stagingRemoved: 0 };
  return withLock(
    p.lock,
    () => {
      const { deleted, layersRemoved } = collect(p, readRefs(p));
      return { deleted, layersRemoved, stagingRemoved: cleanStaging(p) };
    },
    opts.signal,
  );
}

/** With the lock held: removes records no name holds, then layers, flat trees and blobs nothing uses. */
function collect(p: StorePaths, refs: Refs): { deleted: string[]; layersRemoved: number } {
  const live = new Set(Object.values(refs));
  const deleted: string[] = [];
  const liveLayers = new Set<string>();
  const liveBlobs = new Set<string>();
  for (const id of recordIds(p)) {
    const r = readRecord(p, id);
    if (r !== null && live.has(id)) {
      for (const l of r.layers) liveLayers.add(hexOf(l.diffId));
      liveBlobs.add(hexOf(id));
      if (r.manifestDigest) liveBlobs.add(hexOf(r.manifestDigest));
      continue;
    }
    removeAtomically(p.flat(id), p.tmp);
    try {
      renameSync(p.image(id), p.image(id) + '.gone');
      removeTree(p.image(id) + '.gone');
    } catch {
      // removed by another process
    }
    deleted.push(id);
  }
  let layersRemoved = 0;
  for (const hex of listDir(p.layers)) {
    if (/^[a-f0-9]{64}$/.test(hex) && !liveLayers.has(hex)) {
      removeAtomically(p.layer('sha256:' + hex), p.tmp);
      layersRemoved++;
    }
  }
  for (const hex of listDir(p.flats)) {
    if (!live.has('sha256:' + hex)) removeAtomically(p.flat('sha256:' + hex), p.tmp);
  }
  for (const hex of listDir(p.blobs)) {
    if (!liveBlobs.has(hex)) removeTree(p.blob('sha256:' + hex));
  }
  return { deleted, layersRemoved };
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A stored layer's size as an image record has it (the store never re-measures a layer), or 0. */
export function knownLayerSize(p: StorePaths, diffId: string): number {
  for (const id of recordIds(p)) {
    const l = readRecord(p, id)?.layers.find((x) => x.diffId === diffId);
    if (l) return l.size;
  }
  return 0;
}

/** Removes STORE/tmp entries whose process is gone. */
export function cleanStaging(p: StorePaths): number {
  let n = 0;
  for (const name of listDir(p.tmp)) {
    const pid = stagingOwner(name);
    if (pid !== null && pid !== process.pid && pidAlive(pid)) continue;
    if (pid === process.pid) continue;
    removeTree(`${p.tmp}/${name}`);
    n++;
  }
  return n;
}

/** Makes the store's directories (writers only; resolveImage never creates anything). */
export function ensureStore(p: StorePaths): void {
  for (const d of [p.root, p.blobs, p.layers, p.images, p.flats, p.tmp]) mkdirSync(d, { recursive: true, mode: 0o755 });
}

export interface Commit {
  record: ImageRecord;
  /** Names to point at the image (normalised). */
  names: string[];
  /** Layers extracted by this operation, by diff id → their staging directory. */
  staged: Map<string, string>;
  /** Small blobs to keep (config, manifest) by digest. */
  blobs: Map<string, Buffer>;
}

/**
 * With the lock: moves the staged layers into place (a layer another process stored meanwhile wins
 * and ours is dropped), writes the blobs and the record, then points the names at it. Returns the
 * diff ids of layers the image needs that are neither staged nor stored (removed by a concurrent
 * `rm` after this operation found them): nothing is committed then and the caller fetches them.
 */
export async function commitImage(p: StorePaths, c: Commit, signal?: AbortSignal): Promise<string[]> {
  return withLock(
    p.lock,
    () => {
      const missing = c.record.layers.map((l) => l.diffId).filter((d) => !c.staged.has(d) && !existsSync(p.layer(d)));
      if (missing.length > 0) return missing;
      if (signal?.aborted) throw signal.reason;
      for (const [diffId, dir] of c.staged) {
        const dest = p.layer(diffId);
        if (existsSync(dest)) continue;
        renameSync(dir, dest);
      }
      for (const [digest, data] of c.blobs) {
        if (!existsSync(p.blob(digest))) writeFileAtomic(p.blob(digest), data);
      }
      const old = readRecord(p, c.record.id);
      const record = old ? { ...c.record, stored: old.stored, manifestDigest: c.record.manifestDigest ?? old.manifestDigest } : c.record;
      writeFileAtomic(p.image(c.record.id), JSON.stringify(record, null, 1) + '\n');
      const refs = readRefs(p);
      for (const n of c.names) refs[n] = c.record.id;
      writeFileAtomic(p.refs, JSON.stringify(refs, null, 1) + '\n');
      // A name moved off an image may leave it unnamed: collected by prune, as docker leaves <none>.
      return [];
    },
    signal,
  );
}

/** Bytes used on disk under DIR (st_blocks), hard links counted once. */
export function diskUsage(dir: string, seen = new Set<string>()): number {
  let total = 0;
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return 0;
  }
  const walk = (path: string): void => {
    for (const ent of readdirSync(path, { withFileTypes: true })) {
      const full = `${path}/${ent.name}`;
      let s;
      try {
        s = lstatSync(full, { throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!s) continue;
      const key = `${s.dev}:${s.ino}`;
      if (!seen.has(key)) {
        seen.add(key);
        total += s.blocks * 512;
      }
      if (ent.isDirectory()) walk(full);
    }
  };
  if (st.isDirectory()) walk(dir);
  return total;
}
