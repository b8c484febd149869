import test from 'ava';
import { SandboxError } from '../../lib/errors.js';
import { MAX_SECONDS, parseSeconds, parseSize } from '../../lib/units.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

test('parseSize reads bytes and binary suffixes in either case', (t) => {
  const cases: Array<[string | number, number]> = [
    ['1', 1],
    ['65536', 65536],
    ['512b', 512],
    ['512B', 512],
    ['64k', 64 * KiB],
    ['64K', 64 * KiB],
    ['64kb', 64 * KiB],
    ['64KiB', 64 * KiB],
    ['256m', 256 * MiB],
    ['256M', 256 * MiB],
    ['256MB', 256 * MiB],
    ['1g', GiB],
    ['2G', 2 * GiB],
    ['1t', 1024 * GiB],
    ['1.5m', 1.5 * MiB],
    ['.5g', GiB / 2],
    ['0.3k', 307], // rounded down to a whole byte
    [4096, 4096],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ];
  for (const [input, bytes] of cases) t.is(parseSize(input, '--memory'), bytes, String(input));
});

test('parseSize rejects what is not a size, with the option and the value in one line', (t) => {
  const bad: Array<string | number> = [
    '',
    'lots',
    '-5m',
    '+5m',
    '5 m',
    ' 5m',
    '5m ',
    '1e6',
    '0x10',
    '5mm',
    '5x',
    'm',
    '5ki',
    '1.5',
    '1.',
    '0',
    '0m',
    '0.0001k',
    '9007199254740992',
    '8192t',
    0,
    -1,
    1.5,
    NaN,
    Infinity,
    2 ** 53,
  ];
  for (const input of bad) {
    const error = t.throws(() => parseSize(input, '--memory'), { instanceOf: SandboxError }, String(input));
    t.is(error?.stage, 'options');
    t.regex(error!.message, /--memory/);
    t.notRegex(error!.message, /\n/);
  }
  t.regex(t.throws(() => parseSize('lots', '--memory'))!.message, /^Expected a size .*256m.* for --memory but received "lots"$/);
  t.regex(t.throws(() => parseSize('1.5', '-m'))!.message, /fraction needs a suffix/);
});

test('parseSeconds reads whole and fractional seconds', (t) => {
  const cases: Array<[string | number, number]> = [
    ['1', 1],
    ['0.5', 0.5],
    ['.25', 0.25],
    ['2.', 2],
    ['1.5s', 1.5],
    ['10s', 10],
    [0.001, 0.001],
    [3, 3],
    [MAX_SECONDS, MAX_SECONDS],
  ];
  for (const [input, seconds] of cases) t.is(parseSeconds(input, '--time-limit'), seconds, String(input));
});

test('parseSeconds rejects zero, negatives, non-numbers and absurd values', (t) => {
  const bad: Array<string | number> = [
    '',
    '0',
    '0.0',
    '-1',
    '+1',
    'abc',
    '1e3',
    'Infinity',
    'NaN',
    '1 s',
    '1ms',
    '1m',
    '.',
    's',
    '3000000',
    0,
    -1,
    NaN,
    Infinity,
    MAX_SECONDS + 1,
  ];
  for (const input of bad) {
    const error = t.throws(() => parseSeconds(input, '--time-limit'), { instanceOf: SandboxError }, String(input));
    t.is(error?.stage, 'options');
    t.regex(error!.message, /--time-limit/);
    t.notRegex(error!.message, /\n/);
  }
});
