// An image as the store records it (STORE/images/HEX.json), and the OCI image config it is made from.
import type { ImageRunConfig } from './types.js';

export interface LayerRecord {
  /** The digest of the uncompressed layer tar: the layer's name in the store. */
  diffId: string;
  /** Bytes of file content the layer holds once extracted. */
  size: number;
}

export interface ImageRecord {
  schema: 1;
  /** The digest of the config blob (`sha256:...`). */
  id: string;
  platform: string;
  /** The config's `created`, or null. */
  created: string | null;
  layers: LayerRecord[];
  config: ImageRunConfig;
  /** The manifest's digest when pulled (what `name@sha256:...` pins), else null. */
  manifestDigest: string | null;
  /** When it entered the store (ISO 8601). */
  stored: string;
}

/** The parts of an OCI image config (image-spec config.md) the store reads. */
export interface OciConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: {
    Env?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
  } | null;
  rootfs?: { type?: string; diff_ids?: string[] };
}

export function runConfigOf(c: OciConfig): ImageRunConfig {
  const cfg = c.config ?? {};
  const strings = (v: unknown): string[] | null => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null);
  return {
    env: strings(cfg.Env) ?? [],
    workingDir: typeof cfg.WorkingDir === 'string' && cfg.WorkingDir !== '' ? cfg.WorkingDir : null,
    user: typeof cfg.User === 'string' && cfg.User !== '' ? cfg.User : null,
    entrypoint: strings(cfg.Entrypoint),
    cmd: strings(cfg.Cmd),
  };
}

export function platformOf(c: OciConfig): string {
  return `${c.os ?? 'linux'}/${c.architecture ?? 'unknown'}${c.variant ? '/' + c.variant : ''}`;
}

/** The host's platform in OCI terms. */
export function hostPlatform(): string {
  const arch = (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<
      string,
      string
    >
  )[process.arch];
  return `linux/${arch ?? process.arch}`;
}
