// Image references, normalised as docker normalises them: `python` is
// `docker.io/library/python:latest`, `ghcr.io/a/b@sha256:...` keeps its digest.
import { SandboxError } from '../errors.js';

export const DEFAULT_REGISTRY = 'docker.io';

export interface ImageRef {
  /** Registry host[:port] as written, `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path inside the registry, `library/python`. */
  repository: string;
  /** The tag, `latest` when neither tag nor digest was given; null with a digest alone. */
  tag: string | null;
  /** `sha256:...` when pinned. */
  digest: string | null;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** Parses REF; throws a SandboxError (stage 'image') naming it when it is not a valid reference. */
export function parseRef(ref: string): ImageRef {
  const bad = (why: string): SandboxError =>
    new SandboxError(`image ${JSON.stringify(ref)}: not a valid image reference (${why})`, { stage: 'image' });
  if (typeof ref !== 'string' || ref === '' || ref.length > 512) throw bad('empty or too long');
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('a digest is sha256: and 64 hex digits');
  }
  let tag: string | null = null;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('a tag is letters, digits, _ . - and at most 128 of them');
  }
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost' || parts[0]!.startsWith('['))) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw bad('the registry is not a host name');
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw bad('the name is lowercase letters, digits and separators');
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  if (tag === null && digest === null) tag = 'latest';
  return { registry, repository: parts.join('/'), tag, digest };
}

/** `registry/repository[:tag][@digest]`. */
export function formatRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag !== null ? ':' + r.tag : ''}${r.digest !== null ? '@' + r.digest : ''}`;
}

/** The normalised form of REF. */
export function normalizeRef(ref: string): string {
  return formatRef(parseRef(ref));
}

/** The short form people type: `python:3.12`, `ghcr.io/a/b:1` (docker's familiar name). */
export function familiarRef(normalized: string): string {
  return normalized.replace(/^docker\.io\/(?:library\/)?/, '');
}
