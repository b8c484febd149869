// What goes in and comes out of a sandbox: exit statuses and signals as RunResult, stdin in
// every accepted form, stdout/stderr to captures, files and streams, spawn()'s pipes, and the
// per-run environment.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { Sandbox, SandboxError } from '../../lib/index.js';
import { scratchDir, text } from '../helpers/host.js';

const box = new Sandbox();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const code of [0, 1, 42]) {
  test(`exit code ${code} passes through`, async (t) => {
    const r = await box.run(['sh', '-c', `exit ${code}`]);
    t.is(r.exitCode, code);
    t.is(r.signal, null);
    t.is(r.outcome, code === 0 ? 'ok' : 'nonzero-exit');
  });
}

for (const sig of ['SEGV', 'KILL', 'TERM'] as const) {
  test(`a command killed by SIG${sig} is 'signaled' with the signal's name`, async (t) => {
    const r = await box.run(['sh', '-c', `kill -${sig} $$; sleep 5`]);
    t.is(r.outcome, 'signaled');
    t.is(r.signal, `SIG${sig}`);
    t.is(r.exitCode, null);
  });
}

test("exit(139) is 'nonzero-exit', not a SIGSEGV", async (t) => {
  const r = await box.run(['sh', '-c', 'exit 139']);
  t.is(r.outcome, 'nonzero-exit');
  t.is(r.exitCode, 139);
  t.is(r.signal, null);
});

test('a 50 MiB binary stdin round-trips byte-identical through cat', async (t) => {
  const input = randomBytes(50 * 1024 * 1024);
  const r = await box.run(['cat'], { stdin: input });
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(r.stdout!.length, input.length);
  t.is(sha256(r.stdout!), sha256(input));
});

test('captured stdout and stderr are kept apart, whole, and cut at outputLimit exactly', async (t) => {
  // 200,000 bytes on stdout (more than a pipe holds) interleaved with stderr lines.
  const both = await box.run(['sh', '-c', 'for i in 1 2 3 4; do head -c 50000 /dev/zero | tr "\\0" o; echo "err $i" >&2; done']);
  t.is(both.outcome, 'ok', text(both.stderr));
  t.is(both.stdout!.length, 200_000);
  t.true(both.stdout!.every((b) => b === 0x6f));
  t.is(text(both.stderr), 'err 1\nerr 2\nerr 3\nerr 4\n');

  // Exactly the limit is no overflow; one byte more is, and what was kept is the first `limit` bytes.
  const at = await box.run(['sh', '-c', 'printf %s 0123456789'], { outputLimit: 10 });
  t.is(at.outcome, 'ok');
  t.is(text(at.stdout), '0123456789');
  const over = await box.run(['sh', '-c', 'printf %s 0123456789X; sleep 5'], { outputLimit: 10 });
  t.is(over.outcome, 'output-limit');
  t.is(text(over.stdout), '0123456789');
  t.true(over.wallTimeMs < 4000, `stopped at the overflow, not at the end of the sleep (${over.wallTimeMs} ms)`);
});

test('stdin as a string, a Buffer, a Readable and a file; ignore gives /dev/null', async (t) => {
  const s = await box.run(['cat'], { stdin: 'a string\n' });
  t.is(text(s.stdout), 'a string\n');

  const binary = Buffer.from([0, 1, 2, 255, 10, 0]);
  const b = await box.run(['od', '-An', '-tx1'], { stdin: binary });
  t.is(text(b.stdout).trim(), '00 01 02 ff 0a 00');

  const chunks = Array.from({ length: 100 }, (_, i) => `line ${i}\n`);
  const stream = await box.run(['wc', '-l'], { stdin: Readable.from(chunks) });
  t.is(text(stream.stdout).trim(), '100');

  const dir = scratchDir('stdin');
  t.teardown(dir.remove);
  const file = join(dir.path, 'in.txt');
  writeFileSync(file, 'from a file\n');
  const f = await box.run(['cat'], { stdin: { file } });
  t.is(text(f.stdout), 'from a file\n');

  const ignored = await box.run(['sh', '-c', 'cat; readlink /proc/self/fd/0'], { stdin: 'ignore' });
  t.is(text(ignored.stdout), '/dev/null\n');
});

test('a command that does not read its stdin still ends normally', async (t) => {
  const r = await box.run(['true'], { stdin: randomBytes(4 * 1024 * 1024) });
  t.is(r.outcome, 'ok');
});

test('stdout and stderr are captured separately by default', async (t) => {
  const r = await box.run(['sh', '-c', 'echo out; echo err >&2; echo out2']);
  t.is(text(r.stdout), 'out\nout2\n');
  t.is(text(r.stderr), 'err\n');
});

test('stdout and stderr to files', async (t) => {
  const dir = scratchDir('out');
  t.teardown(dir.remove);
  const out = join(dir.path, 'out.txt');
  const err = join(dir.path, 'err.txt');
  writeFileSync(out, 'stale content that must be replaced\n');
  const r = await box.run(['sh', '-c', 'echo to-out; echo to-err >&2'], { stdout: { file: out }, stderr: { file: err } });
  t.is(r.outcome, 'ok');
  t.is(r.stdout, null, 'nothing captured when redirected');
  t.is(r.stderr, null);
  t.is(readFileSync(out, 'utf8'), 'to-out\n');
  t.is(readFileSync(err, 'utf8'), 'to-err\n');
});

function collector(): { stream: Writable; data: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  return { stream, data: () => Buffer.concat(parts).toString('utf8') };
}

test('stdout and stderr to Writables', async (t) => {
  const out = collector();
  const err = collector();
  const r = await box.run(['sh', '-c', 'seq 1 2000; echo done >&2'], { stdout: out.stream, stderr: err.stream });
  t.is(r.outcome, 'ok');
  t.is(r.stdout, null);
  t.is(out.data(), Array.from({ length: 2000 }, (_, i) => `${i + 1}\n`).join(''), 'everything was written before the result');
  t.is(err.data(), 'done\n');
});

/**
 * An fd on a FIFO whose reader starts reading only once the FIFO holds 32 KiB (or has no writer
 * left) and then after a pause, so that the writes to it have queued up (or, non-blocking, failed with EAGAIN); `count()`
 * closes the fd and resolves with the bytes the reader got.
 */
function slowReader(nonBlocking: boolean): { fd: number; count(): Promise<number> } {
  const dir = scratchDir('slow-reader');
  const fifo = join(dir.path, 'fifo');
  execFileSync('mkfifo', [fifo]);
  // Read and write: opening a FIFO for writing alone would wait for a reader.
  const fd = openSync(fifo, constants.O_RDWR | (nonBlocking ? constants.O_NONBLOCK : 0));
  const script = [
    'import fcntl, os, select, sys, termios, time',
    'fd = os.open(sys.argv[1], os.O_RDONLY)',
    'p = select.poll()',
    'p.register(fd, select.POLLIN)',
    // Until 32 KiB are in, or every writer is gone (POLLHUP: the run ended with less).
    'while int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder) < 32768:',
    '    if any(e & select.POLLHUP for _, e in p.poll(0)): break',
    '    time.sleep(0.01)',
    'time.sleep(0.3)',
    'n = 0',
    'while b := os.read(fd, 65536): n += len(b)',
    'print(n)',
  ].join('\n');
  const reader = spawn('python3', ['-c', script, fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  reader.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<void>((r) => reader.once('close', () => r()));
  return {
    fd,
    async count() {
      closeSync(fd);
      await done;
      dir.remove();
      return Number(out.trim());
    },
  };
}

for (const [tty, nonBlocking] of [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
]) {
  const variant = `${tty ? ', tty' : ''}${nonBlocking ? ', a non-blocking fd' : ''}`;
  test(`stdout { fd } with an output limit${variant}: every byte reaches the fd before the result, so the caller may close it then`, async (t) => {
    const sink = slowReader(nonBlocking);
    // Counted output goes through the parent's writer; its writes wait for the slow reader.
    const sandbox = tty ? new Sandbox({ tty: true }) : box;
    const r = await sandbox.run(['sh', '-c', 'yes | head -c 400000'], { stdout: { fd: sink.fd }, outputLimit: 8 << 20 });
    t.is(r.outcome, 'ok');
    // A terminal writes each newline as CR LF.
    t.is(await sink.count(), tty ? 600_000 : 400_000);
  });
}

/**
 * A FIFO in a scratch directory and the test's fd on it, open for reading and writing (for one end
 * alone, opening it would wait for the other): its input never ends while the test holds the fd.
 * Both go when the test ends.
 */
function fifoOfTest(t: ExecutionContext, name: string): { fifo: string; fd: number } {
  const dir = scratchDir(name);
  t.teardown(() => dir.remove());
  const fifo = join(dir.path, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, 'r+');
  t.teardown(() => closeSync(fd));
  return { fifo, fd };
}

test("tty: stdin { fd } is read while the terminal lasts and never closed: the fd stays the caller's", async (t) => {
  // The sandbox never sees the end of this input, only what the shell reads.
  const { fifo, fd } = fifoOfTest(t, 'tty-stdin-fd');
  writeSync(fd, 'exit 3\n');
  const sandbox = new Sandbox({ tty: true });
  const r = await sandbox.run(['sh'], { stdin: { fd } });
  t.is(r.exitCode, 3);
  // Written after the run: nothing of the sandbox's reads it, and nothing closed the fd.
  writeSync(fd, 'more\n');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(fstatSync(fd).ino, statSync(fifo).ino, 'the fd is open and still names the FIFO');
});

test('tty: a silent pipe as stdin { fd } is not read once the run is over', async (t) => {
  // Never written: the input neither comes nor ends.
  const { fifo, fd } = fifoOfTest(t, 'tty-stdin-silent');
  const sandbox = new Sandbox({ tty: true });
  // More runs than the thread pool has threads: a read left waiting by each would stall it.
  for (let i = 0; i < 5; i++) {
    const r = await sandbox.run(['sh', '-c', 'exit 4'], { stdin: { fd } });
    t.is(r.exitCode, 4);
  }
  await t.notThrowsAsync(
    Promise.race([
      stat(fifo),
      new Promise((_, reject) => setTimeout(() => reject(new Error('a file operation waited 60 s: the thread pool is held')), 60_000)),
    ]),
  );
  // What the caller writes now stays in the pipe for its own reader.
  writeSync(fd, 'after\n');
  const other = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  t.teardown(() => closeSync(other));
  const buf = Buffer.alloc(64);
  t.is(buf.toString('utf8', 0, readSync(other, buf)), 'after\n');
});

test("spawn() with 'pipe': write to the command's stdin and read its stdout", async (t) => {
  const h = box.spawn(['sh', '-c', 'while read -r line; do echo "got $line"; done; echo bye >&2'], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  t.true(h.pid > 0);
  let out = '';
  let err = '';
  h.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  h.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const ended = Promise.all([new Promise((r) => h.stdout!.on('end', r)), new Promise((r) => h.stderr!.on('end', r))]);
  // One line, its answer, then the next: the streams are live, not buffered until exit.
  h.stdin!.write('one\n');
  await new Promise<void>((resolve) => {
    const check = () => (out.includes('got one\n') ? resolve() : h.stdout!.once('data', check));
    check();
  });
  h.stdin!.end('two\n');
  const r = await h.result;
  await ended;
  t.is(r.outcome, 'ok');
  t.is(out, 'got one\ngot two\n');
  t.is(err, 'bye\n');
  t.is(r.stdout, null, "spawn() does not capture 'pipe' streams: the caller reads them");
});

test('environment: sandbox env, per-run additions that override it, and nothing sticks between runs', async (t) => {
  const sb = new Sandbox({ env: { BASE: 'b', SHARED: 'from-sandbox' } });
  const a = await sb.run(['env'], { env: { RUN: 'r', SHARED: 'from-run', 'WITH SPACE': 'x=y z' } });
  t.deepEqual(text(a.stdout).trim().split('\n').sort(), [
    'BASE=b',
    'HOME=/tmp',
    'PATH=/usr/local/bin:/usr/bin:/bin',
    'RUN=r',
    'SHARED=from-run',
    'WITH SPACE=x=y z',
  ]);
  const b = await sb.run(['env']);
  t.deepEqual(text(b.stdout).trim().split('\n').sort(), [
    'BASE=b',
    'HOME=/tmp',
    'PATH=/usr/local/bin:/usr/bin:/bin',
    'SHARED=from-sandbox',
  ]);
  // PATH given per run is the one the command is looked up in.
  const e = await t.throwsAsync(sb.run(['env'], { env: { PATH: '/nonexistent' } }), { instanceOf: SandboxError });
  t.is(e?.code, 'ENOENT');
  const c = await sb.run(['env'], { env: { PATH: '/usr/bin' } });
  t.regex(text(c.stdout), /^PATH=\/usr\/bin$/m);
});

test('tty: true: the command names its terminal /dev/pts/0 (and /dev/console), has a size, and sees none of the host ptys', async (t) => {
  const script = [
    'tty',
    'readlink /proc/self/fd/1',
    'test -t 0 && echo isatty',
    'ls /dev/pts | tr "\\n" " "; echo',
    '[ /dev/console -ef /dev/pts/0 ] && echo same',
    // A pty the command opens is one of its own devpts instance, after its terminal.
    `python3 -c 'import os; m, s = os.openpty(); print(os.ttyname(s))'`,
    'stty size',
  ].join('; ');
  const r = await new Sandbox({ tty: true }).run(['sh', '-c', script]);
  const lines =
    r.stdout
      ?.toString()
      .split(/\r?\n/)
      .filter((l) => l !== '') ?? [];
  t.is(r.exitCode, 0, r.stdout?.toString());
  t.deepEqual(lines.slice(0, 6), ['/dev/pts/0', '/dev/pts/0', 'isatty', '0 ptmx ', 'same', '/dev/pts/1']);
  // A size, never 0x0 (the test's stdout is not a terminal: the classic 24x80).
  t.regex(lines[6] ?? '', /^[1-9]\d* [1-9]\d*$/);
  // Without a tty there is no console.
  const plain = await box.run(['sh', '-c', 'tty; test -e /dev/console && echo console']);
  t.is(plain.stdout?.toString(), 'not a tty\n');
});
