// SandboxError: the sandbox itself could not be set up. The program's fate is never thrown.
import { errnoName, errorText } from './errno.js';

export interface SandboxErrorInit {
  /** The setup step that failed, e.g. 'options', 'clone', 'mount', 'exec'. */
  stage: string;
  /** errno of the failing system call, when there was one. */
  errno?: number | null;
  /** The system call that failed, e.g. 'mount'. */
  syscall?: string | null;
  cause?: unknown;
}

export class SandboxError extends Error {
  override name = 'SandboxError';
  readonly stage: string;
  readonly errno: number | null;
  /** errno's symbolic name, e.g. 'ENOENT'. */
  readonly code: string | null;
  readonly syscall: string | null;

  constructor(message: string, init: SandboxErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.stage = init.stage;
    this.errno = init.errno ?? null;
    this.code = this.errno === null ? null : errnoName(this.errno);
    this.syscall = init.syscall ?? null;
  }
}

/** A SandboxError for a bad option: names the option, what was expected and what was given. */
export function optionError(option: string, expected: string, given: unknown): SandboxError {
  return new SandboxError(`Expected ${expected} for ${option} but received ${describe(given)}`, {
    stage: 'options',
  });
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  return `a value of type ${typeof value}`;
}

/** A file the caller named that cannot be opened: "cannot open WHAT file PATH: No such file or directory". */
export function openFailure(e: unknown, what: string, path: string): SandboxError {
  const err = e as NodeJS.ErrnoException;
  return new SandboxError(`cannot open ${what} file ${path}: ${errorText(e)}`, {
    stage: 'options',
    errno: typeof err?.errno === 'number' ? -err.errno : null,
    syscall: 'open',
    cause: e,
  });
}
