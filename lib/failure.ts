// Setup failures from the native layer → SandboxError with a message naming verb, object and
// cause, and a hint where the cause is known.
import { getSystemErrorMap } from 'node:util';
import { SandboxError } from './errors.js';

// Built on first use: making the map is ~0.3 ms of every CLI start, and most runs never fail.
let systemErrors: Map<number, [string, string]> | null = null;

export function errnoMessage(errno: number): string {
  systemErrors ??= getSystemErrorMap();
  return systemErrors.get(-errno)?.[1] ?? `errno ${errno}`;
}

const DOCTOR = 'run `sandbox doctor` for details';

function hint(stage: string, errno: number): string {
  if (stage === 'clone' && (errno === 1 || errno === 28 || errno === 22)) {
    return ` (unprivileged user namespaces may be disabled: check user.max_user_namespaces, kernel.unprivileged_userns_clone or AppArmor's kernel.apparmor_restrict_unprivileged_userns; ${DOCTOR})`;
  }
  if ((stage === 'mount' || stage === 'pivot_root' || stage === 'unshare') && errno === 1) {
    return ` (the kernel or a container refused it: ${DOCTOR})`;
  }
  if (stage === 'setup' && errno === 13) return ` (no permission: ${DOCTOR})`;
  return '';
}

interface NativeFailure {
  stage?: unknown;
  errno?: unknown;
  detail?: unknown;
  message?: unknown;
}

/** Converts an error record from init or an Error thrown by the addon. TypeErrors stay TypeErrors. */
export function setupError(e: unknown): Error {
  if (e instanceof TypeError || e instanceof SandboxError) return e;
  const f = (e ?? {}) as NativeFailure;
  const stage = typeof f.stage === 'string' && f.stage !== '' ? f.stage : 'launch';
  const errno = typeof f.errno === 'number' ? f.errno : null;
  const detail = typeof f.detail === 'string' && f.detail !== '' ? f.detail : typeof f.message === 'string' ? f.message : 'start the sandbox';
  const cause = errno === null ? '' : `: ${errnoMessage(errno)}`;
  const message = `cannot ${detail}${cause}${errno === null ? '' : hint(stage, errno)}`;
  return new SandboxError(message, { stage, errno, syscall: stage, cause: e instanceof Error ? e : undefined });
}
