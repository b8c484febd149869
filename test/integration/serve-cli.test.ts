// `sandbox serve` as a process: the bundled CLI on 127.0.0.1 on a free port. Options, the auth
// token, the body cap, Hydro's requests (examples/hydro-like.mjs), draining on SIGTERM, and what a
// server killed with SIGKILL leaves: nothing, once the next one has started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { SLOWDOWN } from '../helpers/guest.js';
import { isRoot, processesWithArgv, uniqueSeconds, waitFor } from '../helpers/host.js';
import { cmd } from '../helpers/serve.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = join(root, 'dist/lib/sandbox-cli.cjs');
const cliArgv = existsSync(built) ? [built] : ['--import', 'tsx', join(root, 'lib/cli/main.ts')];

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [...cliArgv, 'serve', '--http', '127.0.0.1:0', ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ok = await waitFor(() => /listening on /.test(err) || child.exitCode !== null, 60_000);
  const m = /listening on (\S+)/.exec(err);
  if (!ok || m === null) throw new Error(`serve did not start: ${err}`);
  return { child, url: `http://${m[1]}`, stderr: () => err, exited };
}

/** The server's exit code, or an error with what it logged when it has not exited within `ms`. */
async function exitWithin(s: Served, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`serve did not exit within ${ms} ms; it logged:\n${s.stderr()}`)), ms);
  });
  try {
    return await Promise.race([s.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

function runCli(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [...cliArgv, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (status) => done({ status, stderr }));
  });
}

test('a bad option is exit 125 with one line', async (t) => {
  for (const args of [
    ['serve', '--parallelism', '0'],
    ['serve', '--http', 'nowhere'],
    ['serve', '--bogus'],
    ['serve', '--src-prefix', 'relative'],
  ]) {
    const r = await runCli(args);
    t.is(r.status, 125, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('auth token, body cap, log lines, Hydro-like requests, and SIGTERM drains', async (t) => {
  const s = await serve(['--auth-token', 'sekret', '--max-request-size', '64k', '--parallelism', '2']);
  t.teardown(() => s.child.kill('SIGKILL'));
  const auth = { authorization: 'Bearer sekret', 'content-type': 'application/json' };
  const body = JSON.stringify({ cmd: [cmd(['/bin/echo', 'hi'])] });
  t.is((await fetch(`${s.url}/run`, { method: 'POST', body })).status, 401);
  t.is((await fetch(`${s.url}/run`, { method: 'POST', body, headers: { authorization: 'Bearer wrong' } })).status, 401);
  const ok = await fetch(`${s.url}/run`, { method: 'POST', body, headers: auth });
  t.is(ok.status, 200);
  t.is(((await ok.json()) as any)[0].files.stdout, 'hi\n');
  const big = await fetch(`${s.url}/run`, {
    method: 'POST',
    body: JSON.stringify({ cmd: [cmd(['/bin/true'], {}, 'x'.repeat(100_000))] }),
    headers: auth,
  });
  t.is(big.status, 413);
  t.regex((await big.json()) as string, /larger than 65536/);

  const example = await new Promise<{ status: number | null; out: string }>((done) => {
    const child = spawn(process.execPath, [join(root, 'examples/hydro-like.mjs'), s.url], {
      // Limits are caps: an emulated guest's compiles need more of them, and a pass still means Accepted.
      env: { ...process.env, AUTH_TOKEN: 'sekret', TIME_FACTOR: String(SLOWDOWN) },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (status) => done({ status, out }));
  });
  t.is(example.status, 0, example.out);
  t.notRegex(example.out, /FAIL/);
  if (example.status !== 0) t.log(`serve logged:\n${s.stderr()}`);

  // A run in flight when SIGTERM comes finishes and is answered; then the server exits 0.
  const seconds = uniqueSeconds(1);
  const inFlight = fetch(`${s.url}/run`, {
    method: 'POST',
    body: JSON.stringify({ cmd: [cmd(['/bin/sh', '-c', `sleep ${seconds}; echo done`])] }),
    headers: auth,
    signal: AbortSignal.timeout(4_000 * SLOWDOWN),
  });
  t.true(await waitFor(() => processesWithArgv(['sleep', seconds]).length === 1, 10_000 * SLOWDOWN));
  s.child.kill('SIGTERM');
  const res = await inFlight;
  t.is(res.status, 200);
  t.is(((await res.json()) as any)[0].files.stdout, 'done\n');
  t.is(await exitWithin(s, 4_000 * SLOWDOWN), 0);
  const lines = s
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  t.true(lines.length >= 4);
  t.true(lines.every((l) => typeof JSON.parse(l).code === 'number' || JSON.parse(l).ws));
  t.regex(s.stderr(), /SIGTERM: finishing running requests/);
});

/** Sandbox cgroups a process named as its own (lib/cgroup/stale.ts), in any controller's tree. */
function cgroupsOf(pid: number): string[] {
  const r = spawnSync('find', ['/sys/fs/cgroup', '-mindepth', '1', '-type', 'd', '-name', `sandbox-${pid}-*`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l !== '');
}

// Serial: a server another test of this file starts sweeps a dead server's cgroups at its first
// start, which would take them before this test sees them left behind.
test.serial(
  'kill -9 mid-run: the sandboxes die with the server; the next server sweeps its /w mounts, directories and cgroups',
  async (t) => {
    const victim = await serve(['--parallelism', '2']);
    const pid = victim.child.pid!;
    const seconds = uniqueSeconds(7);
    const argv = ['/bin/sleep', seconds];
    const inFlight = fetch(`${victim.url}/run`, { method: 'POST', body: JSON.stringify({ cmd: [cmd(argv, { clockLimit: 60e9 })] }) }).catch(
      (e: Error) => e,
    );
    t.true(await waitFor(() => processesWithArgv(argv).length === 1, 30_000), 'the sandboxed sleep runs');
    const roots = () => readdirSync(tmpdir()).filter((d) => d.startsWith(`sandbox-jobs-${pid}-`));
    const mounts = () => {
      const r = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
      return r.stdout.split('\n').filter((m) => m.includes(`/sandbox-jobs-${pid}-`));
    };
    t.is(roots().length, 1);
    if (isRoot) t.true(mounts().length > 0, 'as root each /w is a tmpfs on the host');
    victim.child.kill('SIGKILL');
    await victim.exited;
    t.true(await waitFor(() => processesWithArgv(argv).length === 0, 5000), 'the sandbox died with its server');
    t.true((await inFlight) instanceof Error, 'the client sees its connection end');
    if (isRoot) t.true(cgroupsOf(pid).length > 0, 'the dead server left run cgroups for the next one to sweep');

    const next = await serve(['--parallelism', '1']);
    t.teardown(() => next.child.kill('SIGKILL'));
    // Cgroups are swept when a run starts; directories and mounts when the runner makes its own.
    const res = await fetch(`${next.url}/run`, { method: 'POST', body: JSON.stringify({ cmd: [cmd(['/bin/true'])] }) });
    t.is(res.status, 200);
    t.deepEqual(mounts(), []);
    t.deepEqual(roots(), []);
    t.deepEqual(cgroupsOf(pid), []);
    next.child.kill('SIGTERM');
    t.is(await next.exited, 0);
  },
);
