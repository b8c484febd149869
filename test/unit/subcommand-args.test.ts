// `sandbox worker`'s and `sandbox serve`'s options: defaults, units, and one clear SandboxError
// (stage 'options') each.
import { availableParallelism } from 'node:os';
import test from 'ava';
import { SandboxError } from '../../lib/errors.js';
import { parseServeArgs } from '../../lib/cli/serve.js';
import { parseListen, parseWorkerArgs } from '../../lib/cli/worker.js';

test('defaults: queue "sandbox", the CPU count, no metrics, 30 s locks', (t) => {
  const inv = parseWorkerArgs(['--redis', 'redis://127.0.0.1:6379']);
  t.is(inv.redis, 'redis://127.0.0.1:6379');
  t.is(inv.queue, 'sandbox');
  t.is(inv.concurrency, availableParallelism());
  t.is(inv.metrics, null);
  t.is(inv.lockDurationMs, 30_000);
  t.is(inv.maxStalled, 1);
});

test('values: sizes, seconds, --metrics PORT on loopback, repeated --src-prefix', (t) => {
  const inv = parseWorkerArgs([
    '--redis=rediss://u:p@h:6380/2',
    '--queue',
    'judge',
    '--concurrency',
    '8',
    '--metrics',
    '9464',
    '--max-job-size',
    '1m',
    '--lock-duration',
    '2.5',
    '--src-prefix',
    '/data,/more',
    '--src-prefix',
    '/x',
    '--quiet',
  ]);
  t.is(inv.concurrency, 8);
  t.deepEqual(inv.metrics, { host: '127.0.0.1', port: 9464 });
  t.is(inv.maxJobBytes, 1024 * 1024);
  t.is(inv.lockDurationMs, 2500);
  t.deepEqual(inv.srcPrefix, ['/data', '/more', '/x']);
  t.true(inv.quiet);
  t.deepEqual(parseListen('0.0.0.0:9464', '--metrics'), { host: '0.0.0.0', port: 9464 });
  t.deepEqual(parseListen('[::1]:0', '--metrics'), { host: '::1', port: 0 });
});

test('bad options: one SandboxError each, naming the option', (t) => {
  const cases: [string[], RegExp][] = [
    [[], /--redis URL is required/],
    [['--redis', 'localhost:6379'], /redis:\/\/ or rediss:\/\/ URL for --redis/],
    [['--redis', 'redis://h', '--concurrency', '0'], /from 1 to 1024 for --concurrency/],
    [['--redis', 'redis://h', '--metrics', 'nowhere'], /\[HOST:\]PORT for --metrics/],
    [['--redis', 'redis://h', '--lock-duration', '0'], /seconds greater than 0 .* for --lock-duration/],
    [['--redis', 'redis://h', '--queue', 'a b'], /queue name/],
    [['--redis', 'redis://h', '--src-prefix', 'rel'], /absolute directory for --src-prefix/],
    [['--redis', 'redis://h', '--queue'], /--queue needs a value/],
    [['--redis', 'redis://h', '--bogus'], /unknown option "--bogus"/],
  ];
  for (const [args, message] of cases) {
    const e = t.throws(() => parseWorkerArgs(args), { instanceOf: SandboxError });
    t.is(e!.stage, 'options');
    t.regex(e!.message, message);
  }
});

test('serve: values in both spellings, repeated --src-prefix, sizes and seconds', (t) => {
  const inv = parseServeArgs(['--http=0.0.0.0:80', '--parallelism', '3', '--src-prefix', '/a,/b', '--src-prefix=/c', '--file-ttl', '1.5']);
  t.is(inv.http, '0.0.0.0:80');
  t.is(inv.parallelism, 3);
  t.deepEqual(inv.srcPrefix, ['/a', '/b', '/c']);
  t.is(inv.fileTtlMs, 1500);
  t.is(parseServeArgs(['--output-limit', '1k']).outputLimit, 1024);
  t.is(parseServeArgs([]).unix, null);
});

test('serve: bad options, one SandboxError each, naming the option', (t) => {
  const cases: [string[], RegExp][] = [
    [['--parallelism', '0'], /from 1 to 1024 for --parallelism/],
    [['--parallelism', '2x'], /from 1 to 1024 for --parallelism/],
    [['--auth-token', ''], /non-empty token for --auth-token/],
    [['--src-prefix', 'rel'], /absolute directory for --src-prefix/],
    [['--dir'], /--dir needs a value; see 'sandbox serve --help'/],
    [['--bogus'], /unknown option "--bogus" for serve/],
  ];
  for (const [args, message] of cases) {
    const e = t.throws(() => parseServeArgs(args), { instanceOf: SandboxError });
    t.is(e!.stage, 'options');
    t.regex(e!.message, message);
  }
});
