// errno numbers and Node's error codes as text: the one place every message takes its cause from.
// The texts are strerror(3)'s (glibc), as the kernel's tools print them ("Operation not permitted");
// libuv's own texts differ in case and sometimes in wording ("resource busy or locked").
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

const names: Record<number, string> = Object.fromEntries(Object.entries(constants.errno).map(([name, num]) => [num, name]));

// glibc's strerror texts for the errnos a sandbox's setup meets (string/_strerror.c, sysdeps/gnu/errlist.h).
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  ENOEXEC: 'Exec format error',
  EBADF: 'Bad file descriptor',
  ECHILD: 'No child processes',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  EPIPE: 'Broken pipe',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
  EDQUOT: 'Disk quota exceeded',
  EUSERS: 'Too many users',
};

/** errno's symbolic name ('ENOENT' for 2), or null for a number this system does not name. */
export function errnoName(errno: number): string | null {
  return names[errno] ?? null;
}

// Built on first use: making the map is ~0.3 ms of every CLI start, and most runs never fail.
let systemErrors: Map<number, [string, string]> | null = null;

/** strerror(3) of a positive errno: 'No such file or directory' for 2; 'errno N' when unknown. */
export function errnoText(errno: number): string {
  const name = errnoName(errno);
  if (name !== null && STRERROR[name] !== undefined) return STRERROR[name]!;
  systemErrors ??= getSystemErrorMap();
  const text = systemErrors.get(-errno)?.[1];
  return text === undefined ? `errno ${errno}` : text.charAt(0).toUpperCase() + text.slice(1);
}

/** The `code` of a Node system error ('ENOENT'), or null. */
export function errnoCode(err: unknown): string | null {
  return typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).code === 'string'
    ? (err as NodeJS.ErrnoException).code!
    : null;
}

/**
 * The cause of a thrown error, one line: strerror's text for a Node system error ('Permission
 * denied', not "EACCES: permission denied, open '/x'"), else the first line of its message.
 */
export function errorText(err: unknown): string {
  const code = errnoCode(err);
  if (code !== null && STRERROR[code] !== undefined) return STRERROR[code]!;
  const errno = (err as NodeJS.ErrnoException | null)?.errno;
  if (typeof errno === 'number' && errnoName(-errno) !== null) return errnoText(-errno);
  const text = err instanceof Error ? err.message : String(err);
  return text.split(/\r?\n|\r|\u2028|\u2029/)[0]!.trim() || 'unknown error';
}
