// The resident server for the `sandbox` command (docs/cli-server.md) and its native client
// (dist/lib/sandbox): who may connect, a server that dies mid-run, signals, SANDBOX_SERVER's values.
// The CLI's own behaviour through the server is the CLI tests run with SANDBOX_CLI_VIA=server.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { client, type ExecServer, oneLine, root, startExecServer } from '../helpers/cli.js';
import { SLOWDOWN } from '../helpers/guest.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

// Clients a failed test left running (a loop that waits for a signal that never came) are killed
// once the file's tests end: they would keep its worker, and so ava, from exiting.
const live = new Set<ChildProcess>();
test.after.always(() => {
  for (const child of live) child.kill('SIGKILL');
});

/** Runs the client (`sandbox ARGS...`) with env added; `as` runs it as that uid. */
function run(args: string[], env: NodeJS.ProcessEnv, as?: number): Started {
  const child = spawn(client, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(as === undefined ? {} : { uid: as, gid: as }),
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (status, signal) => resolve({ status, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, done };
}

/** Waits for f(), for at most ms (stretched in an emulated guest), polling every 20 ms. */
async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms * SLOWDOWN;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Host pids whose command line contains marker. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(marker)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function via(server: ExecServer, mode = 'required'): NodeJS.ProcessEnv {
  return { SANDBOX_SERVER: mode, SANDBOX_SOCKET: server.socket };
}

test('a run through the server: output, exit status, and the client is what runs (not Node)', async (t) => {
  const server = await startExecServer();
  const r = run(['exec', '--', 'sh', '-c', 'echo ready; read line; exit 42'], via(server));
  // stdin is /dev/null ('ignore'): `read` gets EOF at once; the exe is checked while the run lasts.
  await r.done;
  t.is(r.stdout(), 'ready\n');
  t.is((await r.done).status, 42, r.stderr());
  const slow = run(['exec', '--', 'sh', '-c', 'echo ready; exec sleep 600'], via(server));
  await until('ready', () => slow.stdout() === 'ready\n');
  t.is(readlinkSync(`/proc/${slow.child.pid}/exe`), client);
  slow.child.kill('SIGINT');
  t.is((await slow.done).status, 130, 'SIGINT forwarded: the command dies by it, 128 + 2');
});

test('signals reach the command: a trapped SIGTERM runs its handler, SIGHUP ends it with 129', async (t) => {
  const server = await startExecServer();
  const trapped = run(
    ['exec', '--', 'sh', '-c', 'trap "echo got TERM; exit 7" TERM; echo ready; while :; do sleep 0.05; done'],
    via(server),
  );
  await until('ready', () => trapped.stdout() === 'ready\n');
  trapped.child.kill('SIGTERM');
  t.is((await trapped.done).status, 7, trapped.stderr());
  t.is(trapped.stdout(), 'ready\ngot TERM\n');

  const hup = run(['exec', '--', 'sh', '-c', 'echo ready; exec sleep 600'], via(server));
  await until('ready', () => hup.stdout() === 'ready\n');
  hup.child.kill('SIGHUP');
  t.is((await hup.done).status, 129, hup.stderr());
});

test('a server killed mid-run: the client exits 125 with one line, and the sandbox is gone', async (t) => {
  const server = await startExecServer();
  const marker = `3000.${process.pid}${Date.now() % 1000}`;
  const r = run(['exec', '--', 'sh', '-c', `echo ready; exec sleep ${marker}`], via(server));
  await until('ready', () => r.stdout() === 'ready\n');
  t.true(processesWith(marker).length > 0, 'the command runs');
  server.process.kill('SIGKILL');
  const { status } = await r.done;
  t.is(status, 125);
  oneLine(t, r.stderr(), /server ended before the run/);
  await until('the sandbox to die with the server', () => processesWith(marker).length === 0, 5000);
  t.deepEqual(processesWith(marker), []);
});

test('a client killed mid-run takes its run with it', async (t) => {
  const server = await startExecServer();
  const marker = `3001.${process.pid}${Date.now() % 1000}`;
  const r = run(['exec', '--', 'sh', '-c', `echo ready; exec sleep ${marker}`], via(server));
  await until('ready', () => r.stdout() === 'ready\n');
  r.child.kill('SIGKILL');
  await r.done;
  await until('the run to end', () => processesWith(marker).length === 0, 5000);
  t.deepEqual(processesWith(marker), []);
  // The server goes on serving.
  const next = run(['exec', '--', 'sh', '-c', 'echo still here'], via(server));
  t.is((await next.done).status, 0, next.stderr());
  t.is(next.stdout(), 'still here\n');
});

test('SANDBOX_SERVER=off runs the Node CLI even with a server listening', async (t) => {
  const server = await startExecServer();
  const r = run(['exec', '--', 'sh', '-c', 'echo ready; exec sleep 600'], via(server, 'off'));
  await until('ready', () => r.stdout() === 'ready\n', 30_000);
  t.regex(readlinkSync(`/proc/${r.child.pid}/exe`), /\/node[^/]*$/, 'the client has become node');
  r.child.kill('SIGTERM');
  t.is((await r.done).status, 143);
});

test('SANDBOX_SERVER=required without a server: 125 and one line naming the socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-no-server-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'server.sock');
  const r = run(['exec', '--', '/bin/true'], { SANDBOX_SERVER: 'required', SANDBOX_SOCKET: socket });
  t.is((await r.done).status, 125);
  oneLine(t, r.stderr(), new RegExp(`no sandbox server on ${socket}.*required`));
  t.false(existsSync(socket), 'required never starts a server');
});

test('SANDBOX_SERVER with another value: 125 and one line', async (t) => {
  const r = run(['exec', '--', '/bin/true'], { SANDBOX_SERVER: 'sometimes' });
  t.is((await r.done).status, 125);
  oneLine(t, r.stderr(), /SANDBOX_SERVER must be off, auto or required/);
});

test('SANDBOX_SERVER=auto without a server: the Node CLI runs this one and a server is started for the next', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-auto-'));
  chmodSync(dir, 0o700);
  const socket = join(dir, 'server.sock');
  let serverPid: number | null = null;
  t.teardown(() => {
    if (serverPid !== null) process.kill(serverPid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { SANDBOX_SERVER: 'auto', SANDBOX_SOCKET: socket };
  const first = run(['exec', '--', 'sh', '-c', 'echo first'], env);
  t.is((await first.done).status, 0, first.stderr());
  t.is(first.stdout(), 'first\n');
  await until('the server to listen', () => /\(pid (\d+)\)/.test(readLog()), 30_000);
  serverPid = Number(/\(pid (\d+)\)/.exec(readLog())![1]);
  const second = run(['exec', '--', 'sh', '-c', 'echo second; exec sleep 600'], env);
  await until('second', () => second.stdout() === 'second\n');
  t.is(readlinkSync(`/proc/${second.child.pid}/exe`), client, 'the second run goes through the server');
  second.child.kill('SIGTERM');
  t.is((await second.done).status, 143);

  function readLog(): string {
    try {
      return readFileSync(`${socket}.log`, 'utf8');
    } catch {
      return '';
    }
  }
});

// SO_PEERCRED both ways: a server never serves another uid, and a client never hands its
// environment and fds to a server of another uid.
const asRoot = isRoot ? test : test.skip;
asRoot('a uid 65534 peer of a root server is refused, and a root client refuses a uid 65534 server', async (t) => {
  const server = await startExecServer();
  // Let 65534 reach the socket at all: the peer check is what refuses it.
  chmodSync(join(server.socket, '..'), 0o755);
  chmodSync(server.socket, 0o777);
  const theirs = run(['exec', '--', '/bin/true'], via(server), NOBODY);
  t.is((await theirs.done).status, 125);
  oneLine(t, theirs.stderr(), /no sandbox server on .*Operation not permitted/);

  // A peer that sends a request anyway (no client's own check): the server closes without a reply.
  const raw = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').connect(${JSON.stringify(server.socket)}, () => s.write('SBX1\\0\\0\\0\\0'));
       let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => process.stdout.write('closed:' + got.length));
       s.on('error', () => process.stdout.write('error'));`,
    ],
    { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let said = '';
  raw.stdout!.on('data', (d) => (said += d));
  await new Promise((r) => raw.once('close', r));
  t.is(said, 'closed:0');
  await until('the refusal in the log', () => /refused pid \d+ \(uid 65534\)/.test(server.log()), 5000);

  const nobodys = await startExecServer(NOBODY);
  const mine = run(['exec', '--', '/bin/true'], via(nobodys));
  t.is((await mine.done).status, 125);
  oneLine(t, mine.stderr(), /no sandbox server on .*Operation not permitted/);
  t.notRegex(nobodys.log(), /refused/, 'the client sent nothing');
});

test('relative paths are the client’s: -v ., --stdout and --result land in its directory', async (t) => {
  const server = await startExecServer();
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-client-cwd-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'here.txt'), 'from the client dir\n');
  const child = spawn(client, ['exec', '-v', '.:/w', '--stdout', 'out.txt', '--result', 'result.json', '--', 'cat', '/w/here.txt'], {
    cwd: dir,
    env: { ...process.env, ...via(server) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const status = await new Promise((r) => child.once('close', r));
  t.is(status, 0, err);
  t.is(readFileSync(join(dir, 'out.txt'), 'utf8'), 'from the client dir\n');
  t.is(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')).outcome, 'ok');
});

// script(1) gives the client a terminal of its own: -t through the server relays it as the Node
// CLI does (the command's own pty, the caller's size), and the exit status comes back.
const haveScript = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0;
(haveScript || process.env.CI === 'true' ? test : test.skip)(
  '-t with the client’s terminal: same output and status as the Node CLI',
  async (t) => {
    const server = await startExecServer();
    // script's stdin stays open for the run: at its EOF script types a NUL into the terminal.
    const once = async (mode: string): Promise<string> => {
      const child = spawn(
        'script',
        ['-qec', `stty cols 100 rows 30; ${client} exec -t -- sh -c 'tty; stty size; exit 5'; echo "status $?"`, '/dev/null'],
        {
          cwd: root,
          env: { ...process.env, ...via(server, mode) },
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
      await new Promise((r) => child.once('close', r));
      child.stdin!.destroy();
      return out.replace(/\r/g, '');
    };
    const through = await once('required');
    t.is(through, '/dev/pts/0\n30 100\nstatus 5\n');
    t.is(through, await once('off'));
  },
);

test('a server of another build steps down: the client runs the Node CLI, and the server exits', async (t) => {
  // The server reads its build id from the bundle next to the script it runs: a copy of the
  // CLI beside another bundle id is "another build" for the client.
  const top = mkdtempSync(join(tmpdir(), 'sandbox-other-build-'));
  t.teardown(() => rmSync(top, { recursive: true, force: true }));
  const dir = join(top, 'dist/lib');
  mkdirSync(dir, { recursive: true });
  for (const shared of ['build', 'prebuilds', 'node_modules', 'package.json']) symlinkSync(join(root, shared), join(top, shared));
  const lib = join(root, 'dist/lib');
  copyFileSync(join(lib, 'sandbox-cli.cjs'), join(dir, 'sandbox-cli.cjs'));
  const bundle = readFileSync(join(lib, 'sandbox-cli.bundle.cjs'), 'utf8');
  writeFileSync(join(dir, 'sandbox-cli.bundle.cjs'), `// sandbox-cli other-build\n${bundle.slice(bundle.indexOf('\n') + 1)}`);
  const socket = join(dir, 'server.sock');
  const old = spawn(process.execPath, [join(dir, 'sandbox-cli.cjs'), 'serve', '--exec', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => old.kill('SIGKILL'));
  const exited = new Promise((resolve) => old.once('exit', resolve));
  let log = '';
  old.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  await until('the old server', () => log.includes('serving sandbox exec'), 30_000);
  const r = run(['exec', '--', 'sh', '-c', 'echo ran'], { SANDBOX_SERVER: 'required', SANDBOX_SOCKET: socket });
  t.is((await r.done).status, 0, r.stderr());
  t.is(r.stdout(), 'ran\n');
  t.is(await exited, 0);
  t.regex(log, /another build.*stepping down/);
  t.false(existsSync(socket), 'the old server took its socket with it');
});
