// The command's stdio: which fds it gets, and the parent's ends (streams, capture, counting).
// Pipes come from the addon (pipe2 with O_CLOEXEC). Output captured for run()'s result is read by the
// addon (csrc/capture.cc); every other parent end is a net.Socket. Both go through libuv's event
// loop, never the thread pool.
import { closeSync, createReadStream, openSync, write } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { ReadStream } from 'node:tty';
import { openFailure, optionError } from './errors.js';
import { setupError } from './failure.js';
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
  /** Resolves when every parent-side reader has seen EOF. */
  drained: Promise<void>;
  /** Starts feeding stdin and reading outputs; call after a successful launch. */
  start(onOverflow: () => void): void;
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

export interface StdioRequest {
  stdin: StdinOption;
  stdout: OutputOption;
  stderr: OutputOption;
  /** 'pipe' output is captured into the result (run) rather than exposed as a stream (spawn). */
  capture: boolean;
  outputLimit: number | null;
  /** A new pseudo-terminal for the command: its stdio (unless redirected to files) is the pty. */
  tty: boolean;
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
  if (typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !isReadable(v) && 'file' in v) {
    return openFile(v.file, 'r', 'stdin', opened);
  }
  if (v !== 'pipe' && typeof v !== 'string' && !Buffer.isBuffer(v) && !isReadable(v)) {
    throw optionError('stdin', "a string, Buffer, Readable, { file }, 'pipe', 'inherit' or 'ignore'", v);
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
  if (typeof v === 'object' && v !== null && !isWritable(v) && 'file' in v) return openFile(v.file, 'w', name, opened);
  if (v !== 'pipe' && v !== 'inherit' && !isWritable(v)) {
    throw optionError(name, "'pipe', 'inherit', 'ignore', { file } or a Writable", v);
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
  const dest: Writable | null = v === 'inherit' ? (name === 'stdout' ? process.stdout : process.stderr) : isWritable(v) ? v : null;
  const expose = v === 'pipe' && !req.capture;
  if (v === 'pipe' && req.capture) sink.chunks = [];
  if (expose) {
    s[name] = socket;
  }
  // An exposed stream ends when its reader consumes it: the result does not wait for that.
  if (!expose || limit !== null) {
    ends.push(
      new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
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
  const cols = process.stdout.columns || 80;
  const rows = process.stdout.rows || 24;
  // A file for stdin is typed into the terminal, as a pipe would be; opened now, so a bad path is a
  // setup failure before anything starts.
  const stdinFile = req.stdin;
  const fileIn =
    typeof stdinFile === 'object' && stdinFile !== null && !Buffer.isBuffer(stdinFile) && !isReadable(stdinFile) && 'file' in stdinFile
      ? openFile(stdinFile.file, 'r', 'stdin', [])
      : null;
  let master: number;
  let slave: number;
  try {
    [master, slave] = native().openPty(cols, rows);
  } catch (e) {
    if (fileIn !== null) closeSync(fileIn);
    throw e;
  }
  let fileInOwned = fileIn !== null; // until the read stream takes it
  const out: OutputSink = { chunks: req.capture && req.stdout === 'pipe' ? [] : null, bytes: 0 };
  let reader: ReadStream | null = null;
  let resolveDrained!: () => void;
  const drained = new Promise<void>((r) => (resolveDrained = r));
  const dest: Writable | null = req.stdout === 'inherit' ? process.stdout : isWritable(req.stdout) ? req.stdout : null;
  const s: StdioSetup = {
    childFds: [slave, slave, slave],
    childSide: [slave],
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
      reader.on('data', (chunk: Buffer) => {
        out.bytes += chunk.length;
        const room = req.outputLimit === null ? Infinity : req.outputLimit - (out.bytes - chunk.length);
        const data = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
        if (chunk.length > room) onOverflow();
        if (out.chunks !== null) out.chunks.push(data);
        if (dest !== null && data.length > 0) dest.write(data);
      });
      // EIO on the master is how Linux says "the last slave fd closed": the command's tree is gone.
      reader.on('error', () => reader?.destroy());
      reader.on('close', () => resolveDrained());
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
      } else if (fileIn !== null) {
        fileInOwned = false;
        const file = createReadStream('', { fd: fileIn });
        file.on('data', send);
        file.once('end', sendEnd);
        file.on('error', () => file.destroy());
      }
    },
    abort() {
      native().close(slave);
      if (reader === null) native().close(master);
      else reader.destroy();
      if (fileInOwned) closeSync(fileIn!);
      fileInOwned = false;
    },
  };
  return s;
}
