// `sandbox serve` as a process: the bundled CLI on 127.0.0.1 on a free port. Options, the auth
// token, the body cap, Hydro's requests (examples/hydro-like.mjs) and draining on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { processesWithArgv, uniqueSeconds, waitFor } from '../helpers/host.js';
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
      env: { ...process.env, AUTH_TOKEN: 'sekret' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (status) => done({ status, out }));
  });
  t.is(example.status, 0, example.out);
  t.notRegex(example.out, /FAIL/);

  // A run in flight when SIGTERM comes finishes and is answered; then the server exits 0.
  const seconds = uniqueSeconds(1);
  const inFlight = fetch(`${s.url}/run`, {
    method: 'POST',
    body: JSON.stringify({ cmd: [cmd(['/bin/sh', '-c', `sleep ${seconds}; echo done`])] }),
    headers: auth,
  });
  t.true(await waitFor(() => processesWithArgv(['sleep', seconds]).length === 1, 10_000));
  s.child.kill('SIGTERM');
  const res = await inFlight;
  t.is(res.status, 200);
  t.is(((await res.json()) as any)[0].files.stdout, 'done\n');
  t.is(await s.exited, 0);
  const lines = s
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  t.true(lines.length >= 4);
  t.true(lines.every((l) => typeof JSON.parse(l).code === 'number' || JSON.parse(l).ws));
  t.regex(s.stderr(), /SIGTERM: finishing running requests/);
});
