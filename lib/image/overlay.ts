// Whether overlayfs can be mounted in a user namespace here (Linux 5.11 and an LSM that allows it),
// asked once per process: the answer is the kernel's and does not change while the process runs.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoText } from '../errno.js';
import { native } from '../native.js';

export interface OverlaySupport {
  ok: boolean;
  /** errno of the refused mount (EPERM: an LSM or a kernel without unprivileged overlayfs; EINVAL: no userxattr), else 0. */
  errno: number;
  /** One line for people: "overlayfs in a user namespace: works" or why not. */
  detail: string;
}

let cached: OverlaySupport | null = null;

/**
 * Mounts a read-only overlay of two empty directories in a new user and mount namespace
 * (csrc/overlay_probe.cc). SANDBOX_IMAGE_OVERLAY=0 in the environment says no without asking: images
 * then run from their flattened trees, as where the kernel refuses (a lower filesystem overlayfs
 * mounts but serves badly, or to compare the two).
 */
export function overlaySupport(): OverlaySupport {
  if (cached !== null) return cached;
  if (process.env.SANDBOX_IMAGE_OVERLAY === '0') {
    cached = { ok: false, errno: 0, detail: 'overlayfs for images: turned off (SANDBOX_IMAGE_OVERLAY=0)' };
    return cached;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-overlay-probe-'));
  try {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    const errno = native().probeOverlay(`${join(dir, 'a')}:${join(dir, 'b')}`);
    cached = {
      ok: errno === 0,
      errno,
      detail: errno === 0 ? 'overlayfs in a user namespace: works' : `overlayfs in a user namespace: refused (${errnoText(errno)})`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return cached;
}
