// The command's stdio: which fds it gets, and the parent's ends (streams, capture, counting).
// Pipes come from the addon (pipe2 with O_CLOEXEC). Output captured for run()'s result is read by the
// addon (csrc/capture.cc); every other parent end is a net.Socket. Both go through libuv's event
// loop; a caller's own fds (`{ fd }` relayed through the parent) are read and written from the
// thread pool, as they may block, except a pipe read for a terminal (pipeOfOurs).
import { closeSync, constants, createReadStream, fchownSync, fstatSync, openSync, read, readFileSync, readSync, write } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { ReadStream } from 'node:tty';
import { openFailure, optionError } from './errors.js';
import { setupError } from './setup-error.js';
import { native } from './native.js';
import type { OutputOption, StdinOption } from './options.js';

export interface OutputSink {
  /** Chunks captured for the result, or null when not captured. */
  chunks: Buffer[] | null;
  bytes: number;
}

export interface StdioSetup {
  childFds: [number, number, number];
  /** Child-side fds the parent closes once the sandbox has them (or on a failed launch). */
  childSide: number[];
  /** Parent-side fds still to be wrapped; closed on a failed launch. */
  parentSide: number[];
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  out: OutputSink;
  err: OutputSink;
  /** Resolves when every parent-side reader has seen EOF and what it read has reached a caller's fd. */
  drained: Promise<void>;
  /** Starts feeding stdin and reading outputs; call after a successful launch. */
  start(onOverflow: () => void): void;
  /** The run's tree has ended (init reported it): closes what the parent kept open for the run. */
  runEnded(): void;
  /** Closes everything on a failed launch. */
  abort(): void;
  /** The parent's sockets made so far (destroyed by abort). */
  sockets: Socket[];
}

// node:net and node:tty are loaded on first use: a run whose stdio are plain fds (the CLI's usual
// case) never needs them, and loading them is ~2 ms of a `sandbox exec` start.
const require = createRequire(import.meta.url);
let netModule: typeof import('node:net') | null = null;
let ttyModule: typeof import('node:tty') | null = null;
function newSocket(options: import('node:net').SocketConstructorOpts): Socket {
  netModule ??= require('node:net') as typeof import('node:net');
  return new netModule.Socket(options);
}
function newTtyReader(fd: number): ReadStream {
  ttyModule ??= require('node:tty') as typeof import('node:tty');
  return new ttyModule.ReadStream(fd);
}

/** A pipe for the command's `name` (stdin, stdout, stderr): a SandboxError naming it when none can be had (EMFILE). */
function pipeFor(name: string): [number, number] {
  try {
    return native().pipe();
  } catch (e) {
    const errno = (e as { errno?: unknown }).errno;
    throw setupError({ stage: 'pipe', errno: typeof errno === 'number' ? errno : null, detail: `create a pipe for the command's ${name}` });
  }
}

let devNull: number | null = null;
/** The process's one fd on /dev/null (never closed). */
export function nullFd(): number {
  // One O_CLOEXEC fd on /dev/null for the process's lifetime (libuv opens with O_CLOEXEC).
  if (devNull === null) devNull = openSync('/dev/null', 'r+');
  return devNull;
}

// By shape, not instanceof: any stream implementation will do, and node:stream need not be loaded.
function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).read === 'function';
}
function isWritable(v: unknown): v is Writable {
  return typeof v === 'object' && v !== null && typeof (v as Writable).write === 'function' && typeof (v as Writable).end === 'function';
}

/** The fd of a `{ fd }` option, or null for any other kind. */
function callerFd(v: unknown, name: string): number | null {
  if (typeof v !== 'object' || v === null || Buffer.isBuffer(v) || !('fd' in v) || isReadable(v) || isWritable(v)) return null;
  const fd = (v as { fd: unknown }).fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) throw optionError(name, '{ fd } with a non-negative integer fd', v);
  return fd;
}

/**
 * Reads a caller's fd until its end (then `onEnd`), an error, or the returned stop(). The fd is the
 * caller's, never closed here: a second close of its number would close whatever the process opened
 * under it since. A pipe is read through a description of our own (pipeOfOurs), in the event loop;
 * anything else from the thread pool, one read at a time. A stream on the caller's fd would not do:
 * destroy() closes its fd even with autoClose false, and a paused one reads on to its high-water mark.
 */
function readCallerFd(fd: number, onData: (b: Buffer) => void, onEnd: () => void): () => void {
  const pipe = pipeOfOurs(fd);
  if (pipe !== null) {
    pipe.on('data', onData);
    pipe.once('end', onEnd);
    pipe.on('error', () => pipe.destroy());
    return () => pipe.destroy();
  }
  let stopped = false;
  const buf = Buffer.allocUnsafe(65536);
  const next = (): void => {
    read(fd, buf, 0, buf.length, null, (err, n) => {
      if (stopped || err !== null) return;
      if (n === 0) return onEnd();
      onData(Buffer.from(buf.subarray(0, n)));
      next();
    });
  };
  next();
  return () => {
    stopped = true;
  };
}

/**
 * A caller's pipe or FIFO opened anew through /proc, non-blocking, as a socket of ours; null for any
 * other fd, one not open for reading, or one that cannot be opened so. A read from the thread pool
 * waits on a silent pipe until its writer writes or ends: once the run is over, it would hold a pool
 * thread (four such stall every file operation of the process) and take input the caller meant for
 * someone else. Closing a description of our own ends its reads at once; the caller's stays as it was
 * (never made non-blocking).
 */
function pipeOfOurs(fd: number): Socket | null {
  let own: number;
  try {
    if (!fstatSync(fd).isFIFO()) return null;
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    // The access mode is the low two bits of the flags (O_ACCMODE).
    if (flags === null || (Number.parseInt(flags[1]!, 8) & 3) === constants.O_WRONLY) return null;
    own = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  return newSocket({ fd: own, readable: true, writable: false });
}

/**
 * Reads a pty master to its end, once libuv has called it the end. When the last slave fd closes,
 * the master polls as hung up and libuv takes a short read then for the end of input; but a master
 * gives at most its line discipline's buffer per read, and the rest of the output would be lost. No
 * slave is open, so these reads never wait: they return what is left, then fail with EIO.
 */
function readToEnd(master: number, onData: (b: Buffer) => void): void {
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(master, buf, 0, buf.length, null);
    } catch {
      return; // EIO: nothing left
    }
    if (n <= 0) return;
    onData(Buffer.from(buf.subarray(0, n)));
  }
}

/** Counted output (--output-limit) passed on to a caller's fd: written from the thread pool, so a
 * reader that stops reading (a full pipe, a blocking fd the caller shares) never blocks the event loop.
 * A non-blocking fd whose reader is behind (EAGAIN) is written again after a pause. What cannot be
 * written (the reader has gone: EPIPE) is dropped, as the command's own write would fail. Not a
 * file stream: its destroy() closes the fd even with autoClose false, and the fd is the caller's. */
function fdWriter(fd: number): Writable {
  const { Writable } = require('node:stream') as typeof import('node:stream');
  const w = new Writable({ write: (chunk: Buffer, _encoding, done) => writeAll(fd, chunk, done) });
  w.on('error', () => {});
  return w;
}

/** Writes all of `chunk` to `fd` from the thread pool, pausing 1 ms, then twice as long up to 64 ms, while it would block. */
function writeAll(fd: number, chunk: Buffer, done: (e?: Error | null) => void, pause = 1): void {
  write(fd, chunk, 0, chunk.length, null, (e, n) => {
    if (e?.code === 'EAGAIN') return void setTimeout(() => writeAll(fd, chunk, done, Math.min(pause * 2, 64)), pause);
    if (e !== null) return done(e);
    if (n < chunk.length) return writeAll(fd, chunk.subarray(n), done);
    done();
  });
}

/**
 * Ends a writer of ours and resolves once its last write has returned. The result waits for it: a
 * caller may close its fd as soon as it has the result, and a write still queued would then fail,
 * or land in whatever file the fd number is given to next.
 */
function flushed(w: Writable | null): Promise<void> {
  return new Promise((resolve) => {
    if (w === null || w.destroyed || w.errored !== null || w.writableFinished) return resolve();
    w.once('error', () => resolve());
    w.once('finish', () => resolve());
    w.end();
  });
}

export interface StdioRequest {
  stdin: StdinOption;
  stdout: OutputOption;
  stderr: OutputOption;
  /** 'pipe' output is captured into the result (run) rather than exposed as a stream (spawn). */
  capture: boolean;
  outputLimit: number | null;
  /** A new pseudo-terminal for the command: its stdio (unless redirected to files) is the pty. */
  tty: boolean;
  /**
   * The host ids the pty's slave is given (a root caller's: the command's host ids), so that the
   * sandbox's init may open it by its name inside, /dev/pts/0 (csrc/init/mounts.cc); null: the
   * caller's own, which the sandbox maps.
   */
  ttyOwner?: { uid: number; gid: number } | null;
}

export function setupStdio(req: StdioRequest): StdioSetup {
  if (req.tty) return setupTty(req);
  const childSide: number[] = [];
  const parentSide: number[] = [];
  const opened: number[] = [];
  const starters: ((onOverflow: () => void) => void)[] = [];
  const ends: Promise<void>[] = [];
  const s: StdioSetup = {
    childFds: [-1, -1, -1],
    childSide,
    parentSide,
    stdin: null,
    stdout: null,
    stderr: null,
    out: { chunks: null, bytes: 0 },
    err: { chunks: null, bytes: 0 },
    drained: Promise.resolve(),
    sockets: [],
    start(onOverflow) {
      for (const f of starters) f(onOverflow);
    },
    runEnded() {},
    abort() {
      for (const fd of [...childSide, ...parentSide]) native().close(fd);
      childSide.length = 0;
      parentSide.length = 0;
      for (const socket of s.sockets) socket.destroy();
    },
  };
  try {
    s.childFds[0] = stdinFd(req, s, starters, childSide, parentSide, opened);
    s.childFds[1] = outputFd('stdout', req.stdout, req, s, s.out, starters, ends, childSide, parentSide, opened);
    s.childFds[2] = outputFd('stderr', req.stderr, req, s, s.err, starters, ends, childSide, parentSide, opened);
  } catch (e) {
    s.abort();
    throw e;
  }
  childSide.push(...opened);
  s.drained = Promise.all(ends).then(() => undefined);
  return s;
}

function openFile(path: unknown, flags: string, option: string, opened: number[]): number {
  if (typeof path !== 'string' || path.includes('\0')) throw optionError(`${option}.file`, 'a path', path);
  try {
    const fd = openSync(path, flags, 0o644);
    opened.push(fd);
    return fd;
  } catch (e) {
    throw openFailure(e, option, path);
  }
}

function stdinFd(
  req: StdioRequest,
  s: StdioSetup,
  starters: ((onOverflow: () => void) => void)[],
  childSide: number[],
  parentSide: number[],
  opened: number[],
): number {
  const v = req.stdin;
  if (v === 'ignore' || v === undefined) return nullFd();
  if (v === 'inherit') return 0;
  const given = callerFd(v, 'stdin');
  if (given !== null) return given;
  if (typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !isReadable(v) && 'file' in v) {
    return openFile(v.file, 'r', 'stdin', opened);
  }
  if (v !== 'pipe' && typeof v !== 'string' && !Buffer.isBuffer(v) && !isReadable(v)) {
    throw optionError('stdin', "a string, Buffer, Readable, { file }, { fd }, 'pipe', 'inherit' or 'ignore'", v);
  }
  const [r, w] = pipeFor('stdin');
  childSide.push(r);
  parentSide.push(w);
  const sock = (): Socket => {
    const socket = newSocket({ fd: w, readable: false, writable: true });
    s.sockets.push(socket);
    parentSide.splice(parentSide.indexOf(w), 1);
    // The command may exit without reading everything: EPIPE is its choice, not our failure.
    socket.on('error', () => socket.destroy());
    return socket;
  };
  if (v === 'pipe') {
    const socket = sock();
    s.stdin = socket;
  } else {
    starters.push(() => {
      const socket = sock();
      if (isReadable(v)) {
        v.on('error', () => socket.destroy());
        v.pipe(socket);
      } else {
        socket.end(v);
      }
    });
  }
  return r;
}

function outputFd(
  name: 'stdout' | 'stderr',
  v: OutputOption,
  req: StdioRequest,
  s: StdioSetup,
  sink: OutputSink,
  starters: ((onOverflow: () => void) => void)[],
  ends: Promise<void>[],
  childSide: number[],
  parentSide: number[],
  opened: number[],
): number {
  const limit = req.outputLimit;
  if (v === 'ignore') return nullFd();
  // Direct fds unless the output must be counted: a file is capped by RLIMIT_FSIZE instead.
  if (v === 'inherit' && limit === null) return name === 'stdout' ? 1 : 2;
  const given = callerFd(v, name);
  if (given !== null && limit === null) return given;
  if (typeof v === 'object' && v !== null && !isWritable(v) && 'file' in v) return openFile(v.file, 'w', name, opened);
  if (v !== 'pipe' && v !== 'inherit' && given === null && !isWritable(v)) {
    throw optionError(name, "'pipe', 'inherit', 'ignore', { file }, { fd } or a Writable", v);
  }
  const [r, w] = pipeFor(name);
  childSide.push(w);
  parentSide.push(r);
  if (v === 'pipe' && req.capture) {
    // Captured into the result and nowhere else: read natively into one buffer (csrc/capture.cc),
    // no stream per pipe.
    sink.chunks = [];
    const chunks = sink.chunks;
    let done!: () => void;
    ends.push(new Promise<void>((resolve) => (done = resolve)));
    starters.push((onOverflow) => {
      native().capture(r, limit ?? -1, onOverflow, (data, total) => {
        chunks.push(data);
        sink.bytes = total;
        done();
      });
      parentSide.splice(parentSide.indexOf(r), 1); // the capture owns it now
    });
    return w;
  }
  const socket = newSocket({ fd: r, readable: true, writable: false });
  s.sockets.push(socket);
  parentSide.splice(parentSide.indexOf(r), 1);
  const own = given !== null ? fdWriter(given) : null;
  const dest: Writable | null =
    v === 'inherit' ? (name === 'stdout' ? process.stdout : process.stderr) : (own ?? (isWritable(v) ? v : null));
  const expose = v === 'pipe' && !req.capture;
  if (v === 'pipe' && req.capture) sink.chunks = [];
  if (expose) {
    s[name] = socket;
  }
  // An exposed stream ends when its reader consumes it: the result does not wait for that.
  if (!expose || limit !== null) {
    ends.push(
      new Promise<void>((resolve) => {
        socket.once('close', () => void flushed(own).then(resolve));
      }),
    );
  }
  starters.push((onOverflow) => {
    if (expose && limit === null) return; // the caller reads the stream itself
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      const room = limit === null ? Infinity : limit - sink.bytes;
      sink.bytes += chunk.length;
      if (chunk.length > room) {
        data = chunk.subarray(0, Math.max(0, room));
        onOverflow();
      }
      if (data.length === 0) return;
      if (sink.chunks !== null) sink.chunks.push(data);
      if (dest !== null) dest.write(data);
    });
    socket.on('error', () => socket.destroy());
  });
  return w;
}

/**
 * The command's terminal is a new pty: the command holds the slave, we hold the master. Output
 * (stdout and stderr merged, as on any terminal) is read from the master; input is written to it.
 * The caller's own terminal is never the command's, so TIOCSTI inside cannot reach it.
 */
function setupTty(req: StdioRequest): StdioSetup {
  // A terminal that reports no size (0x0, as script(1) without a terminal gives) gets the classic one.
  const terminal = (req.stdout === 'inherit' ? process.stdout : isWritable(req.stdout) ? req.stdout : null) as {
    columns?: number;
    rows?: number;
  } | null;
  const cols = terminal?.columns || 80;
  const rows = terminal?.rows || 24;
  // A file for stdin is typed into the terminal, as a pipe would be; opened now, so a bad path is a
  // setup failure before anything starts.
  const stdinFile = req.stdin;
  const fileIn =
    typeof stdinFile === 'object' && stdinFile !== null && !Buffer.isBuffer(stdinFile) && !isReadable(stdinFile) && 'file' in stdinFile
      ? openFile(stdinFile.file, 'r', 'stdin', [])
      : null;
  const givenIn = callerFd(req.stdin, 'stdin');
  const givenOut = callerFd(req.stdout, 'stdout');
  let master: number;
  let slave: number;
  try {
    [master, slave] = native().openPty(cols, rows);
    if (req.ttyOwner) fchownSync(slave, req.ttyOwner.uid, req.ttyOwner.gid);
  } catch (e) {
    if (fileIn !== null) closeSync(fileIn);
    throw e;
  }
  let fileInOwned = fileIn !== null; // until the read stream takes it
  let slaveOpen = true;
  const closeSlave = () => {
    if (slaveOpen) native().close(slave);
    slaveOpen = false;
  };
  const out: OutputSink = { chunks: req.capture && req.stdout === 'pipe' ? [] : null, bytes: 0 };
  let reader: ReadStream | null = null;
  let resolveDrained!: () => void;
  const drained = new Promise<void>((r) => (resolveDrained = r));
  const own = givenOut !== null ? fdWriter(givenOut) : null;
  const dest: Writable | null = req.stdout === 'inherit' ? process.stdout : (own ?? (isWritable(req.stdout) ? req.stdout : null));
  const s: StdioSetup = {
    childFds: [slave, slave, slave],
    // The parent keeps its slave fd until the run's tree has ended (runEnded): the master reads EIO
    // only once no slave fd is open, and the reader then closes the master, which hangs the
    // terminal up. Were that the command's own last close (a program that closes its stdio before
    // exit_group, as coreutils do), the hangup's SIGHUP could kill it in between.
    childSide: [],
    parentSide: [master],
    sockets: [],
    stdin: null,
    stdout: null,
    stderr: null,
    out,
    err: { chunks: null, bytes: 0 },
    drained,
    start(onOverflow) {
      reader = newTtyReader(master);
      s.parentSide.length = 0;
      const take = (chunk: Buffer) => {
        out.bytes += chunk.length;
        const room = req.outputLimit === null ? Infinity : req.outputLimit - (out.bytes - chunk.length);
        const data = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
        if (chunk.length > room) onOverflow();
        if (out.chunks !== null) out.chunks.push(data);
        if (dest !== null && data.length > 0) dest.write(data);
      };
      reader.on('data', take);
      // Before the stream closes the master: 'end' listeners run first.
      reader.on('end', () => readToEnd(master, take));
      // EIO on the master is how Linux says "the last slave fd closed": the command's tree is gone.
      reader.on('error', () => reader?.destroy());
      reader.on('close', () => void flushed(own).then(resolveDrained));
      const input = req.stdin;
      // Input that ends (a pipe, a file, a string) reaches the command's end as the terminal's EOF
      // character (^D), twice when a line is pending (the first only ends that line), as a user
      // typing it would: without it `echo ls | sandbox exec -t sh` waits for input for ever.
      let last = 0x0a;
      const send = (d: Buffer | string) => {
        const b = typeof d === 'string' ? Buffer.from(d) : d;
        if (b.length > 0) last = b[b.length - 1]!;
        write(master, b, () => {});
      };
      const sendEnd = () => write(master, Buffer.from(last === 0x0a ? '\x04' : '\x04\x04'), () => {});
      if (input === 'inherit') {
        const terminal = process.stdin.isTTY === true;
        if (terminal) process.stdin.setRawMode(true);
        process.stdin.on('data', send);
        if (!terminal) process.stdin.once('end', sendEnd);
        reader.on('close', () => {
          process.stdin.off('data', send);
          process.stdin.off('end', sendEnd);
          if (terminal) process.stdin.setRawMode(false);
          process.stdin.pause();
        });
      } else if (Buffer.isBuffer(input) || (typeof input === 'string' && input !== 'ignore' && input !== 'pipe')) {
        send(input);
        sendEnd();
      } else if (isReadable(input)) {
        input.on('data', send);
        input.once('end', sendEnd);
      } else if (givenIn !== null) {
        // The terminal is gone: no further read of the caller's fd, which it may close, and whose
        // number may then name another file.
        reader.on('close', readCallerFd(givenIn, send, sendEnd));
      } else if (fileIn !== null) {
        fileInOwned = false;
        const file = createReadStream('', { fd: fileIn });
        file.on('data', send);
        file.once('end', sendEnd);
        file.on('error', () => file.destroy());
      }
    },
    runEnded() {
      closeSlave();
    },
    abort() {
      closeSlave();
      if (reader === null) native().close(master);
      else reader.destroy();
      if (fileInOwned) closeSync(fileIn!);
      fileInOwned = false;
    },
  };
  return s;
}
