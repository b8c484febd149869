// Sizes and durations as users write them on the command line and in options (docs/cli.md: SIZE, SEC).
import { optionError } from './errors.js';

const SIZE_EXPECTED = 'a size in bytes, or with a suffix k, m or g (e.g. 256m)';

/** Binary multipliers; "k", "kb" and "kib" all mean KiB, as docker reads them. */
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};

// Digits, an optional fraction, an optional unit letter, then an optional "b"/"ib". No sign, no
// exponent, no spaces: "1e3" or "-5m" are far more likely typos than intent.
const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)(?:([kmgt])(i?b)?|(b))?$/i;

/**
 * Parses a size: a whole number of bytes (`65536`, `512b`), or a number with a binary suffix k, m, g
 * or t, upper or lower case, optionally followed by `b` or `ib` (`256m`, `1.5G`, `64KiB`).
 * A fraction is allowed with a suffix and rounded down to a whole byte; a bare fraction of a byte is
 * not. The result is at least 1 and at most 2^53 - 1 (Number.MAX_SAFE_INTEGER).
 */
export function parseSize(value: string | number, option: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 1) return value;
    throw optionError(option, `${SIZE_EXPECTED}, a whole number of bytes from 1 to 2^53-1`, value);
  }
  if (typeof value !== 'string') throw optionError(option, SIZE_EXPECTED, value);
  const m = SIZE_RE.exec(value);
  if (m === null) throw optionError(option, SIZE_EXPECTED, value);
  const [, digits, letter, , bareB] = m;
  const unit = SIZE_UNITS[(letter ?? bareB ?? '').toLowerCase()]!;
  if (unit === 1 && digits!.includes('.')) {
    throw optionError(option, `${SIZE_EXPECTED}; a fraction needs a suffix`, value);
  }
  const bytes = Math.floor(Number(digits) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw optionError(option, `${SIZE_EXPECTED}, from 1 byte to 2^53-1 bytes`, value);
  }
  return bytes;
}

/**
 * The largest time limit accepted: 2^31-1 ms, the longest delay a Node timer can hold (a longer one
 * fires at once, see the setTimeout documentation), i.e. about 24.8 days.
 */
export const MAX_SECONDS = 2147483.647;

const SECONDS_EXPECTED = 'a number of seconds greater than 0 (fractions allowed, e.g. 0.5)';
const SECONDS_RE = /^(\d+(?:\.\d*)?|\.\d+)s?$/;

/** Parses a duration in seconds: `2`, `0.5`, `.25`, `1.5s`. Must be > 0 and at most MAX_SECONDS. */
export function parseSeconds(value: string | number, option: string): number {
  let seconds: number;
  if (typeof value === 'number') {
    seconds = value;
  } else if (typeof value === 'string' && SECONDS_RE.test(value)) {
    seconds = Number(value.endsWith('s') ? value.slice(0, -1) : value);
  } else {
    throw optionError(option, SECONDS_EXPECTED, value);
  }
  if (!Number.isFinite(seconds) || seconds <= 0) throw optionError(option, SECONDS_EXPECTED, value);
  if (seconds > MAX_SECONDS) {
    throw optionError(option, `${SECONDS_EXPECTED}, at most ${MAX_SECONDS} (about 24 days)`, value);
  }
  return seconds;
}
