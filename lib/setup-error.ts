// Setup failures from the native layer → SandboxError with a message naming verb, object and
// cause, and a hint where the cause is known.
import { constants } from 'node:os';
import { errnoText } from './errno.js';
import { SandboxError } from './errors.js';
import { openFileLimit } from './fd-budget.js';

const DOCTOR = 'run `sandbox doctor` for details';

/**
 * The stages of csrc/ this file gives a hint for; test/unit/failure-stages.test.ts checks each
 * against the C++ sources, so a renamed stage cannot lose its hint unnoticed.
 */
export const HINTED_STAGES = ['clone', 'mount', 'pivot_root', 'unshare', 'setup'] as const;

function hint(stage: string, errno: number): string {
  if (stage === 'clone' && (errno === 1 || errno === 28 || errno === 22)) {
    return ` (unprivileged user namespaces may be disabled: check user.max_user_namespaces, kernel.unprivileged_userns_clone or AppArmor's kernel.apparmor_restrict_unprivileged_userns; ${DOCTOR})`;
  }
  if ((stage === 'mount' || stage === 'pivot_root' || stage === 'unshare') && errno === 1) {
    return ` (the kernel or a container refused it: ${DOCTOR})`;
  }
  if (stage === 'setup' && errno === 13) return ` (no permission: ${DOCTOR})`;
  if (errno === constants.errno.EMFILE) {
    const limit = openFileLimit();
    return ` (this process is at its open-file limit, RLIMIT_NOFILE${limit === null ? '' : ` = ${limit}`}: each running sandbox holds a few fds, docs/faults.md)`;
  }
  if (errno === constants.errno.ENFILE) return ' (the system-wide open-file limit, fs.file-max, is reached)';
  return '';
}

/** What a stage reported without a detail of its own was doing (the clone child's stages, csrc/spawn.cc). */
export const STAGE_DETAIL: Record<string, string> = {
  prctl: "set the sandbox init's parent-death signal",
  capabilities: "set the sandbox init's capabilities",
  fds: "give the sandbox's init its fds (dup)",
  'exec-init': 'execute sandbox-init',
};

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
  const detail =
    typeof f.detail === 'string' && f.detail !== ''
      ? f.detail
      : (STAGE_DETAIL[stage] ?? (typeof f.message === 'string' && f.message !== '' ? f.message : 'start the sandbox'));
  const cause = errno === null ? '' : `: ${errnoText(errno)}`;
  const message = `cannot ${detail}${cause}${errno === null ? '' : hint(stage, errno)}`;
  return new SandboxError(message, { stage, errno, syscall: stage, cause: e instanceof Error ? e : undefined });
}
