// The image store's contract with the rest of the library: what a stored image resolves to when a
// sandbox runs in it. lib/image/store.ts produces it; the run side (options, plan, init's mounts)
// consumes it and knows nothing else of the store.

/** The parts of an OCI image config (`config` object) a run applies, as docker applies them. */
export interface ImageRunConfig {
  /** `KEY=VALUE` strings, in the image's order. */
  env: string[];
  /** Absolute directory inside, or null when the image sets none. */
  workingDir: string | null;
  /** `user`, `uid`, `user:group` or `uid:gid` as the image says it, or null. */
  user: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
}

/** A stored image, ready to be a sandbox's root. */
export interface ResolvedImage {
  /** The name it was asked by, normalised (`docker.io/library/python:3.12-slim`). */
  ref: string;
  /** The image's id: the digest of its config blob (`sha256:...`). */
  id: string;
  /**
   * Absolute paths of the extracted layer trees, lowest first. Each is complete and never changes
   * while a name holds the image: whiteouts are kept in the overlayfs form (a 0/0 character device
   * for a deleted path; `trusted.overlay.opaque` / `user.overlay.opaque` for an opaque directory), so
   * the list can be an overlay's lowerdirs as it is.
   */
  layers: string[];
  /**
   * One directory holding the whole root, flattened (whiteouts applied), for kernels or callers
   * where overlayfs cannot be mounted; null until made (the store makes it on request).
   */
  flat: string | null;
  config: ImageRunConfig;
  /** `linux/amd64`, `linux/arm64`. */
  platform: string;
}
