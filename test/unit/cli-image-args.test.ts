// `sandbox exec --image ...` and `sandbox run IMAGE ...`: argv → options (docs/images-run.md).
import test from 'ava';
import { parseExecArgs, parseRunArgs } from '../../lib/cli/args.js';
import { SandboxError } from '../../lib/errors.js';

const MiB = 1024 ** 2;

function fails(t: import('ava').ExecutionContext, parse: (argv: string[]) => unknown, argv: string[], pattern: RegExp): void {
  const error = t.throws(() => parse(argv), { instanceOf: SandboxError }, argv.join(' '));
  t.is(error?.stage, 'options');
  t.regex(error!.message, pattern, argv.join(' '));
}

test('exec --image: the command is optional, and replaces Cmd when given', (t) => {
  const none = parseExecArgs(['--image', 'python:3.12']);
  t.is(none.options.image, 'python:3.12');
  t.deepEqual(none.command, []);
  const given = parseExecArgs(['--image=busybox', '-e', 'A=1', '--', 'sh', '-c', 'echo $A']);
  t.deepEqual(given.command, ['sh', '-c', 'echo $A']);
  t.deepEqual(given.options.env, { A: '1' });
});

test("run IMAGE [COMMAND]: docker's spelling, options before the image", (t) => {
  const inv = parseRunArgs(['-m', '256m', '--writable', '--writable-size', '64m', 'python:3.12', 'python3', '-c', 'print(42)']);
  t.is(inv.options.image, 'python:3.12');
  t.is(inv.options.memory, 256 * MiB);
  t.true(inv.options.writable);
  t.is(inv.options.writableSize, 64 * MiB);
  t.deepEqual(inv.command, ['python3', '-c', 'print(42)']);
  t.deepEqual(parseRunArgs(['alpine']).command, []);
  t.deepEqual(parseRunArgs(['--', 'alpine', '--json']).command, ['--json'], 'after the image everything is the command');
});

test('--entrypoint: one executable; "" clears the image\'s', (t) => {
  t.deepEqual(parseRunArgs(['--entrypoint', '/bin/sh', 'img', '-c', 'true']).options.entrypoint, ['/bin/sh']);
  t.deepEqual(parseRunArgs(['--entrypoint=', 'img', 'ls']).options.entrypoint, []);
});

test('bad combinations: one line each', (t) => {
  fails(t, parseExecArgs, ['--image', 'a', '--rootfs', '/', '--', 'true'], /^--image and --rootfs exclude each other$/);
  fails(t, parseExecArgs, ['--writable', '--', 'true'], /^--writable needs --image or --rootfs$/);
  fails(t, parseExecArgs, ['--image', 'a', '--writable-size', '1m'], /^--writable-size needs --writable$/);
  fails(t, parseExecArgs, ['--entrypoint', 'x', '--', 'true'], /^--entrypoint needs --image$/);
  fails(t, parseExecArgs, ['--image', ''], /--image/);
  fails(t, parseRunArgs, [], /^missing image: usage is sandbox run/);
  fails(t, parseRunArgs, ['-m', '1g'], /^missing image/);
  fails(t, parseRunArgs, ['--image', 'a', 'b'], /not --image/);
  fails(t, parseExecArgs, [], /^missing command/);
});

test('exec --rootfs --writable is allowed (a writable layer over the directory)', (t) => {
  const inv = parseExecArgs(['--rootfs', '/srv/root', '--writable', '--', 'true']);
  t.true(inv.options.writable);
  t.is(inv.options.rootfs, '/srv/root');
});
