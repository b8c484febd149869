// `sandbox serve --exec [PATH]`: this user's resident server for the `sandbox` command
// (docs/cli-server.md). The native client (csrc/client/client.c) connects, passes argv, its
// environment, its working directory and fds 0-2; the run goes through runExec (exec.ts), the same
// code as `sandbox exec` in a process of its own, with the client's fds as its stdio; the reply is
// the exit status. Only the same uid is served (SO_PEERCRED), so nothing crosses a privilege line:
// the server runs with the caller's own rights, as the CLI would.
import { closeSync, fstatSync, openSync, readlinkSync, readSync, renameSync, statSync, unlinkSync, write } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { isatty, ReadStream, WriteStream } from 'node:tty';
import { SandboxError } from '../errors.js';
import { native } from '../native.js';
import type { RunOptions, SandboxOptions } from '../options.js';
import type { Sandbox } from '../sandbox.js';
import { parseExecArgs, parseRunArgs } from './args.js';
import { defaultSocketPath, ensureOwnDir } from './exec-socket.js';
import { type ExecIo, fail, runExec } from './exec.js';
import { noticeLine } from './notice.js';

export const EXEC_SERVE_HELP = `Usage: sandbox serve --exec [PATH] [OPTIONS]

Serves this user's \`sandbox exec\` and \`sandbox run\` commands from one resident process, so that
each starts in a few milliseconds instead of starting Node. Reference: docs/cli-server.md.

      --exec [PATH]        the unix socket (default: $SANDBOX_SOCKET, else
                           $XDG_RUNTIME_DIR/sandbox/server.sock, else /tmp/sandbox-UID/server.sock)
      --idle-timeout SEC   exit after SEC seconds without a run (default 0: never)
  -h, --help               this text
`;

const MAGIC = 'SBX1';
/** The fds a request carries: its cwd (O_PATH) and the client's 0, 1, 2. */
const REQUEST_FDS = 4;
/** Longest request taken: argv and environment are bounded by the kernel's ARG_MAX anyway. */
const MAX_REQUEST = 16 * 1024 * 1024;
/** A client that connected but sent nothing within this long is dropped. */
const REQUEST_WAIT_MS = 5000;
/** Distinct configurations kept warm at once; the least recently used beyond that is closed. */
const KEPT_CONFIGURATIONS = 16;
/** Warm sandboxes per configuration: two, for a caller that runs two at a time (make -j2). */
const WARM_PER_CONFIGURATION = 2;

interface Request {
  id: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  fds: number[];
  /** Bytes that came after the request: signals the client forwarded early. */
  rest: Buffer;
}

export async function runExecServer(args: string[]): Promise<number> {
  let path: string | null = null;
  let idleMs = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(EXEC_SERVE_HELP);
      return 0;
    } else if (arg === '--exec') {
      if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')) path = args[++i]!;
    } else if (arg === '--idle-timeout' && args[i + 1] !== undefined && /^\d+$/.test(args[i + 1]!)) {
      idleMs = Number(args[++i]) * 1000;
    } else {
      process.stderr.write(noticeLine(`unknown option ${JSON.stringify(arg)} for serve --exec; see 'sandbox serve --exec --help'`));
      return 125;
    }
  }
  if (path === null) {
    path = defaultSocketPath();
    if (!process.env.SANDBOX_SOCKET) {
      try {
        ensureOwnDir(dirname(path));
      } catch (e) {
        process.stderr.write(noticeLine((e as Error).message));
        return 125;
      }
    }
  }
  const server = new ExecServer(path, idleMs, bundleId());
  const listening = await server.listen();
  if (!listening) {
    process.stderr.write(`sandbox serve: a server already listens on ${path}\n`);
    return 0;
  }
  process.stderr.write(`sandbox serve: serving sandbox exec on ${path} (pid ${process.pid})\n`);
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`sandbox serve: ${signal}: finishing running requests\n`);
    server.stop();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await server.stopped;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  return 0;
}

/** The id on the CLI bundle's first line (cli/seal.ts), which the client sends: a server of another
 * build steps down rather than run a newer client's request with older code. */
function bundleId(): string {
  try {
    const text = readFileStart(join(dirname(process.argv[1] ?? ''), 'sandbox-cli.bundle.cjs'));
    return text.slice(0, text.indexOf('\n'));
  } catch {
    return '';
  }
}

function readFileStart(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(127);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

class ExecServer {
  readonly stopped: Promise<void>;
  #resolveStopped!: () => void;
  #server: Server;
  #ino = -1;
  #active = 0;
  #closing = false;
  #idle: NodeJS.Timeout | null = null;
  #boxes = new Map<string, Sandbox>();

  constructor(
    readonly path: string,
    readonly idleMs: number,
    readonly id: string,
  ) {
    this.stopped = new Promise((r) => (this.#resolveStopped = r));
    // pauseOnConnect: Node must not read a client's first bytes, which carry its fds (recvRequest).
    this.#server = createServer({ pauseOnConnect: true }, (socket) => this.#serve(socket));
  }

  /**
   * Listens on a name of its own, then renames it onto the path: a client never finds the path
   * bound and not yet listening, and of two servers started at once the later rename wins (the
   * other, unreachable, exits when idle). False when a server already answers on the path.
   */
  async listen(): Promise<boolean> {
    if (await answers(this.path)) return false;
    const tmp = `${this.path}.${process.pid}`;
    try {
      unlinkSync(tmp);
    } catch {
      // none left over
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(tmp, () => resolve());
    });
    renameSync(tmp, this.path);
    this.#ino = statSync(this.path).ino;
    this.#armIdle();
    return true;
  }

  /** Stops taking runs; resolves `stopped` once the running ones have ended. */
  stop(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#server.close();
    this.#unlinkOwn();
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#maybeStopped();
  }

  #maybeStopped(): void {
    if (!this.#closing || this.#active > 0) return;
    const boxes = [...this.#boxes.values()];
    this.#boxes.clear();
    void Promise.allSettled(boxes.map((b) => b.close())).then(() => this.#resolveStopped());
  }

  /** Removes the socket's name if it is still ours (a newer server may have renamed its own onto it). */
  #unlinkOwn(): void {
    try {
      if (statSync(this.path).ino === this.#ino) unlinkSync(this.path);
    } catch {
      // gone already
    }
  }

  #armIdle(): void {
    if (this.idleMs <= 0 || this.#closing) return;
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      if (this.#active === 0) {
        process.stderr.write(`sandbox serve: idle for ${this.idleMs / 1000} s: exiting\n`);
        this.stop();
      }
    }, this.idleMs);
  }

  #serve(socket: Socket): void {
    this.#active++;
    if (this.#idle !== null) clearTimeout(this.#idle);
    socket.on('error', () => socket.destroy());
    void this.#handle(socket)
      .catch((e: unknown) => {
        process.stderr.write(noticeLine(`serve: ${(e as Error).message}`));
        socket.destroy();
      })
      .finally(() => {
        this.#active--;
        if (this.#active === 0) this.#armIdle();
        this.#maybeStopped();
      });
  }

  async #handle(socket: Socket): Promise<void> {
    const req = await receive(socket);
    if (req === null) return;
    try {
      if (req.id !== this.id) {
        // Another build: the client runs its own Node CLI, and a server of its build takes over.
        socket.end(Buffer.from('f'));
        process.stderr.write(`sandbox serve: a client of another build (${req.id || 'unknown'}): stepping down\n`);
        this.stop();
        return;
      }
      const parse = req.argv[1] === 'exec' ? parseExecArgs : req.argv[1] === 'run' ? parseRunArgs : null;
      const cwd = callerDir(req.fds[0]!);
      if (parse === null || cwd === null) {
        // Not a run, or a directory this process cannot name (a client in another mount
        // namespace, a removed directory): the client's own Node CLI does it as before.
        socket.end(Buffer.from('f'));
        return;
      }
      const status = await this.#run(socket, req, parse, cwd);
      const reply = Buffer.alloc(5);
      reply.write('x');
      reply.writeInt32LE(status, 1);
      socket.end(reply);
    } finally {
      for (const fd of req.fds) native().close(fd);
    }
  }

  async #run(socket: Socket, req: Request, parse: typeof parseExecArgs, cwd: string): Promise<number> {
    const [, stdin, stdout, stderr] = req.fds as [number, number, number, number];
    const clientFd = { 1: stdout, 2: stderr } as const;
    let forward: ((signal: NodeJS.Signals) => void) | null = null;
    const early: NodeJS.Signals[] = [];
    const deliver = (signal: NodeJS.Signals): void => {
      if (forward === null) early.push(signal);
      else forward(signal);
    };
    const onBytes = (chunk: Buffer): void => {
      for (let i = 0; i + 1 < chunk.length; i += 2) {
        if (chunk[i] !== 0x73) continue; // 's'
        const name = signalName(chunk[i + 1]!);
        if (name !== null && name !== 'SIGWINCH') deliver(name);
      }
    };
    onBytes(req.rest);
    socket.on('data', onBytes);
    // A client that goes away mid-run (killed, or its terminal closed) takes its run with it, as the
    // Node CLI's death takes the sandbox (its init's PR_SET_PDEATHSIG).
    let gone = false;
    socket.once('close', () => {
      gone = true;
      deliver('SIGKILL');
    });
    socket.resume();

    const cleanups: (() => void)[] = [];
    const io: ExecIo = {
      env: req.env,
      cwd,
      stdio: (run, tty) => clientStdio(run, tty, [stdin, stdout, stderr], cleanups),
      write: (fd, text) =>
        new Promise<void>((resolve) => {
          write(clientFd[fd], text, () => resolve());
        }),
      sandbox: async (options) => this.#sandbox(options),
      onSignal: (f) => {
        forward = f;
        for (const s of early.splice(0)) f(s);
        return () => {
          forward = null;
        };
      },
    };
    try {
      return await runExec(req.argv.slice(2), parse, io);
    } catch (e) {
      return fail(io, e);
    } finally {
      for (const c of cleanups) c();
      socket.off('data', onBytes);
      if (gone) socket.destroy();
    }
  }

  /** One Sandbox per configuration, kept for the next run with the same options. */
  async #sandbox(options: SandboxOptions): Promise<Sandbox> {
    const key = JSON.stringify(options);
    let box = this.#boxes.get(key);
    if (box !== undefined) {
      this.#boxes.delete(key);
    } else {
      const { Sandbox } = await import('../sandbox.js');
      box = warmSandbox(Sandbox, options);
      if (this.#boxes.size >= KEPT_CONFIGURATIONS) {
        const [oldest, old] = this.#boxes.entries().next().value!;
        this.#boxes.delete(oldest);
        void old.close();
      }
    }
    this.#boxes.set(key, box);
    return box;
  }
}

function signalName(n: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(constants.signals)) if (value === n) return name as NodeJS.Signals;
  return null;
}

/**
 * Warm sandboxes for a configuration where the API keeps them (their runs are the same runs: the
 * pool resets each between them); a configuration it refuses to keep warm (-t, --writable, a mount
 * in /tmp) gets a Sandbox that builds each run's own, as the CLI's.
 */
function warmSandbox(S: typeof Sandbox, options: SandboxOptions): Sandbox {
  try {
    return new S({ ...options, pool: WARM_PER_CONFIGURATION });
  } catch (e) {
    if (e instanceof SandboxError && e.message.startsWith('options.pool:')) return new S(options);
    throw e;
  }
}

/** Whether a server answers on path (a stale socket file refuses the connection). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Reads the request and its fds; null (and the socket destroyed) for a peer that is refused. */
async function receive(socket: Socket): Promise<Request | null> {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    socket.destroy();
    return null;
  }
  // The client sends at once after connecting: its bytes are nearly always there on accept.
  const deadline = Date.now() + REQUEST_WAIT_MS;
  let first = native().recvRequest(fd);
  for (let i = 0; first === null; i++) {
    if (Date.now() > deadline) {
      socket.destroy();
      return null;
    }
    await new Promise((r) => (i < 8 ? setImmediate(r) : setTimeout(r, 5)));
    first = native().recvRequest(fd);
  }
  const refuse = (why: string | null): null => {
    for (const f of first!.fds) native().close(f);
    if (why !== null) process.stderr.write(`sandbox serve: refused pid ${first!.pid} (uid ${first!.uid}): ${why}\n`);
    socket.destroy();
    return null;
  };
  // Same uid only: a root server serves root alone, and a user's server only that user.
  if (first.uid !== process.geteuid?.()) return refuse(first.data.length === 0 ? null : `not uid ${process.geteuid?.()}`);
  if (first.data.length === 0) return refuse(null);
  if (first.truncated || first.fds.length !== REQUEST_FDS) return refuse(`${first.fds.length} fds, expected ${REQUEST_FDS}`);
  let data = first.data;
  if (data.length >= 8 && data.subarray(0, 4).toString('latin1') !== MAGIC) return refuse('not a sandbox client');
  const length = data.length >= 8 ? data.readUInt32LE(4) : 0;
  if (length > MAX_REQUEST) return refuse('request too long');
  if (data.length < 8 + length) {
    const chunks = [data];
    let have = data.length;
    const complete = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), REQUEST_WAIT_MS);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        have += chunk.length;
        if (have >= 8 && have >= 8 + Buffer.concat(chunks).readUInt32LE(4)) {
          clearTimeout(timer);
          socket.pause();
          socket.removeAllListeners('data');
          resolve(true);
        }
      });
      socket.once('close', () => resolve(false));
      socket.resume();
    });
    if (!complete) return refuse('incomplete request');
    data = Buffer.concat(chunks);
    if (data.subarray(0, 4).toString('latin1') !== MAGIC) return refuse('not a sandbox client');
  }
  const total = 8 + data.readUInt32LE(4);
  const body = data.subarray(8, total);
  const argc = body.readUInt32LE(0);
  const envc = body.readUInt32LE(4);
  const words = body.subarray(8).toString('utf8').split('\0');
  // id, argc words, envc words, and the empty string after the last NUL.
  if (words.length !== 2 + argc + envc || argc < 1) return refuse('malformed request');
  const env: NodeJS.ProcessEnv = {};
  for (const kv of words.slice(1 + argc, 1 + argc + envc)) {
    const eq = kv.indexOf('=');
    if (eq > 0 && !Object.hasOwn(env, kv.slice(0, eq))) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { id: words[0]!, argv: words.slice(1, 1 + argc), env, fds: first.fds, rest: data.subarray(total) };
}

/**
 * The client's working directory as a path, for relative host paths: the name the fd has here,
 * if it names the same directory (same device and inode); null when it does not (another mount
 * namespace, a removed directory).
 */
function callerDir(fd: number): string | null {
  try {
    const path = readlinkSync(`/proc/self/fd/${fd}`);
    if (!path.startsWith('/')) return null;
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.isDirectory() && a.dev === b.dev && a.ino === b.ino ? path : null;
  } catch {
    return null;
  }
}

/**
 * The run's stdio: where the options say 'inherit', the client's fds as they are. With -t the
 * command's terminal is a new pty (stdio.ts) relayed to and from the client's: its terminal is
 * opened anew through /proc (a file description of ours, so raw mode and O_NONBLOCK never touch the
 * one the client's shell shares) and put in raw mode for the run.
 */
function clientStdio(run: RunOptions, tty: boolean, [stdin, stdout, stderr]: number[], cleanups: (() => void)[]): RunOptions {
  const given = <T>(v: T, fd: number): T | { fd: number } => (v === 'inherit' ? { fd } : v);
  if (!tty) {
    return { ...run, stdin: given(run.stdin, stdin), stdout: given(run.stdout, stdout), stderr: given(run.stderr, stderr) };
  }
  const out: RunOptions = { ...run };
  if (run.stdin === 'inherit') {
    if (isatty(stdin)) {
      const input = new ReadStream(openSync(`/proc/self/fd/${stdin}`, 'r+'));
      input.setRawMode(true);
      cleanups.push(() => {
        input.setRawMode(false);
        input.destroy();
      });
      out.stdin = input;
    } else {
      out.stdin = { fd: stdin };
    }
  }
  if (run.stdout === 'inherit') {
    if (isatty(stdout)) {
      const output = new WriteStream(openSync(`/proc/self/fd/${stdout}`, 'r+'));
      cleanups.push(() => output.destroy());
      out.stdout = output;
    } else {
      out.stdout = { fd: stdout };
    }
  }
  return out;
}
