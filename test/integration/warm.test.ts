// Warm sandboxes (the `pool` option): runs reuse a sandbox's namespaces and filesystem, and
// nothing of one run reaches the next. Each check runs the real sandbox, and first makes sure the
// runs it compares did share one warm sandbox (the same init pid), so that a reset that did not
// happen cannot pass for one.
import { spawn as spawnChild } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { Sandbox, SandboxError, type RunOptions } from '../../lib/index.js';
import { childrenOfThisProcess, settle, snapshot, text, waitFor } from '../helpers/host.js';

/** Runs `script` with sh on `box` and returns the init pid that served it with the result. */
async function runOn(box: Sandbox, script: string, options: RunOptions = {}) {
  await box.warm(); // spawn() takes an idle warm sandbox only: not one still being reset
  const p = box.spawn(['sh', '-c', script], { stdin: 'ignore', ...options });
  const chunks: Buffer[] = [];
  p.stdout!.on('data', (c: Buffer) => chunks.push(c));
  p.stderr!.resume();
  // As with child_process, the end may be reported before the last output is read.
  const [r] = await Promise.all([p.result, new Promise((resolve) => p.stdout!.on('end', resolve))]);
  return { pid: p.pid, r, out: Buffer.concat(chunks).toString('utf8') };
}

test('runs on a warm sandbox share its init, and give the same results as one-shot runs', async (t) => {
  const box = new Sandbox({ pool: 1 });
  await box.warm();
  const a = await runOn(box, 'echo one; exit 3');
  const b = await box.run(['sh', '-c', 'read x; echo "got $x" >&2; exit 0'], { stdin: 'hello\n' });
  const c = await runOn(box, 'kill -TERM $$');
  t.is(a.r.outcome, 'nonzero-exit');
  t.is(a.r.exitCode, 3);
  t.is(a.out, 'one\n');
  t.is(b.outcome, 'ok');
  t.is(text(b.stderr), 'got hello\n');
  t.is(c.r.signal, 'SIGTERM');
  t.is(c.pid, a.pid, 'the same warm sandbox served both');
  t.true(a.r.wallTimeMs > 0 && a.r.memoryPeakBytes > 0);
  await box.close();
});

test('nothing of a run reaches the next: files in /tmp, /dev/shm and tmpfs mounts, SysV IPC, processes', async (t) => {
  const box = new Sandbox({ pool: 1, tmpfs: [{ dst: '/scratch' }], cwd: '/tmp/work' });
  await box.warm();
  const first = await runOn(
    box,
    'echo a > /tmp/a; echo b > /dev/shm/b; echo c > /scratch/c; echo w > ./w; ipcmk -M 4096 >/dev/null; ipcmk -Q >/dev/null;' +
      ' (setsid sleep 1000 </dev/null >/dev/null 2>&1 &); ls -A /tmp /dev/shm /scratch .; ipcs -m -q | grep -c "^0x"',
  );
  t.is(first.r.outcome, 'ok', first.out);
  t.is(first.out, '.:\nw\n\n/dev/shm:\nb\n\n/scratch:\nc\n\n/tmp:\na\nwork\n2\n', 'the first run made them all');
  const second = await runOn(box, 'ls -A /tmp /dev/shm /scratch .; ipcs -m -q | grep -c "^0x"; ps -e -o comm= | grep -c sleep; pwd');
  t.is(second.pid, first.pid, 'the same warm sandbox');
  t.is(second.out, '.:\n\n/dev/shm:\n\n/scratch:\n\n/tmp:\nwork\n0\n0\n/tmp/work\n', 'empty places, no IPC objects, no sleep left');
  await box.close();
});

test('/dev is read-only, warm or not; /dev/shm stays writable', async (t) => {
  for (const box of [new Sandbox(), new Sandbox({ pool: 1 })]) {
    await box.warm();
    const r = await box.run([
      'sh',
      '-c',
      'touch /dev/planted 2>&1; echo x > /dev/shm/ok && echo shm-ok; echo y > /dev/null && echo null-ok',
    ]);
    t.regex(text(r.stdout), /Read-only file system\nshm-ok\nnull-ok\n$/);
    await box.close();
  }
});

test('a run that leaves a socket in its network namespace retires its warm sandbox: the next gets another', async (t) => {
  const box = new Sandbox({ pool: 1 });
  await box.warm();
  // A TCP connection to itself, closed by the client first: TIME_WAIT outlives the process.
  const py =
    'import socket\ns = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)\nc = socket.create_connection(s.getsockname())\na, _ = s.accept()\nc.close(); a.close(); s.close()';
  const first = await runOn(box, `python3 -c '${py}'`);
  t.is(first.r.outcome, 'ok', first.out);
  await box.warm();
  const second = await runOn(box, 'cat /proc/net/sockstat');
  t.not(second.pid, first.pid, 'a new warm sandbox');
  t.regex(second.out, /TCP: inuse 0 orphan \d+ tw 0/);
  await box.close();
});

test('an aborted or killed warm run ends, and the warm sandbox serves the next', async (t) => {
  const box = new Sandbox({ pool: 1 });
  await box.warm();
  const ac = new AbortController();
  const aborted = box.run(['sleep', '30'], { signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  const e = await t.throwsAsync<SandboxError>(aborted, { instanceOf: SandboxError });
  t.is(e?.stage, 'aborted');
  const p = box.spawn(['sleep', '30']);
  setTimeout(() => p.kill('SIGKILL'), 100);
  t.is((await p.result).signal, 'SIGKILL');
  await box.warm(); // as in runOn()
  const q = box.spawn(['sh', '-c', 'trap "echo caught; exit 0" USR1; echo ready; while :; do sleep 0.01; done'], { stdout: 'pipe' });
  q.stdout!.once('data', () => q.kill('SIGUSR1'));
  const qr = await q.result;
  t.is(qr.outcome, 'ok');
  await box.warm();
  const after = await runOn(box, 'echo fine');
  t.is(after.out, 'fine\n');
  t.is(after.pid, q.pid, 'still the same warm sandbox');
  await box.close();
});

test('wall-time limit and a failed exec on a warm sandbox', async (t) => {
  const box = new Sandbox({ pool: 1, wallTimeLimit: 0.3 });
  await box.warm();
  const r = await box.run(['sleep', '30']);
  t.is(r.outcome, 'wall-time-limit');
  // Ended by the limit, not by its own end after 30 s. No tighter bound: in the emulated arm64
  // guest this file's other tests (a second Node, a CPU-bound run) share one slow CPU, and the
  // limit's timer fires seconds late (11 s seen).
  t.true(r.wallTimeMs < 30_000, `wall ${r.wallTimeMs}`);
  const e = await t.throwsAsync<SandboxError>(box.run(['/no/such/program']), { instanceOf: SandboxError });
  t.is(e?.stage, 'exec');
  t.is(e?.code, 'ENOENT');
  t.is((await box.run(['true'], { wallTimeLimit: 60 })).outcome, 'ok', 'the sandbox serves on (a slow guest needs more than 0.3 s)');
  await box.close();
});

test.serial('a kill whose grace runs out as the run ends: the sandbox it ends is not given to the next run', async (t) => {
  const box = new Sandbox({ pool: 1, wallTimeLimit: 0.3 });
  await box.warm();
  const first = box.run(['sleep', '30']);
  // The wall limit sends its kill; then the loop is held past the 2 s grace that follows it. Init
  // ends the run and says it is ready meanwhile; when the loop turns, the grace timer (its SIGKILL)
  // fires before the run's end is read.
  await new Promise((r) => setTimeout(r, 1000));
  const until = Date.now() + 2600;
  while (Date.now() < until) {
    // held
  }
  t.is((await first).outcome, 'wall-time-limit');
  const next = await box.run(['echo', 'next'], { wallTimeLimit: 60 });
  t.is(next.outcome, 'ok', `${next.outcome} ${next.signal}`);
  t.is(text(next.stdout), 'next\n');
  await box.close();
});

test('many concurrent runs on a small pool: all correct (the ones beyond it build their own)', async (t) => {
  const box = Sandbox.pool(2);
  await box.warm();
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => box.run(['sh', '-c', `echo ${i}`])));
  t.deepEqual(
    results.map((r) => text(r.stdout)),
    Array.from({ length: 12 }, (_, i) => `${i}\n`),
  );
  await box.close();
});

// Serial: the other tests' sandboxes are children of this process too.
test.serial('close() ends the warm sandboxes and leaves nothing: no process, no fd', async (t) => {
  await new Sandbox().run(['true']); // the addon and its once-per-process fds are loaded
  const before = snapshot();
  const box = new Sandbox({ pool: 3 });
  await box.warm();
  const pids = await Promise.all([1, 2, 3].map(async () => (await runOn(box, 'true')).pid));
  await box.close();
  t.true(
    pids.every((pid) => !existsSync(`/proc/${pid}`)),
    'every init has ended',
  );
  const after = await settle(before);
  t.true(after.fds <= before.fds, `fds ${before.fds} → ${after.fds}`);
  t.deepEqual(
    after.children.filter((p) => !before.children.includes(p)),
    [],
  );
  // A run after close() builds its own sandbox.
  t.is((await box.run(['true'])).outcome, 'ok');
  t.deepEqual(
    childrenOfThisProcess().filter((p) => !before.children.includes(p)),
    [],
  );
});

test('idle warm sandboxes do not keep Node running, and end with it', async (t) => {
  t.timeout(200_000);
  const script = `
    import { Sandbox } from ${JSON.stringify(join(import.meta.dirname, '../../dist/lib/index.js'))};
    const box = new Sandbox({ pool: 2 });
    await box.warm();
    const r = await box.run(['true']);
    console.log(r.outcome, (await box.spawn(['true']).result).outcome, box.spawn(['true']).pid);`;
  const child = spawnChild(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const status = await new Promise<number | null>((resolve) => {
    // Only there to turn a hang into a failure: the emulated guests, busy beside the host's tests,
    // take over 20 s for this script.
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => (clearTimeout(timer), resolve(code)));
  });
  t.is(status, 0, err);
  const [outcome1, outcome2, pid] = out.trim().split(' ');
  t.is(`${outcome1} ${outcome2}`, 'ok ok');
  t.true(await waitFor(() => !existsSync(`/proc/${pid}`), 5000), 'the warm sandbox ended with Node');
});

test('a pool that cannot be built: warm() rejects with the setup error, runs report it too', async (t) => {
  const box = new Sandbox({ pool: 1, binds: [{ src: '/nonexistent-source', dst: '/x' }] });
  const e = await t.throwsAsync<SandboxError>(box.warm(), { instanceOf: SandboxError });
  t.regex(e?.message ?? '', /nonexistent-source/);
  await t.throwsAsync(box.run(['true']), { instanceOf: SandboxError });
  await box.close();
});

test('configurations a warm sandbox cannot reset are refused up front', (t) => {
  for (const options of [
    { tty: true },
    { binds: [{ src: '/usr', dst: '/tmp/usr' }] },
    { tmpfs: [{ dst: '/dev/shm/x' }] },
    { pool: -1 },
    { pool: 1.5 },
  ]) {
    const e = t.throws<SandboxError>(() => new Sandbox({ pool: 1, ...options }), { instanceOf: SandboxError });
    t.regex(e?.message ?? '', /pool/);
    t.notRegex(e?.message ?? '', /\n/);
  }
});

test("a warm run's figures are its own: a large run, then a small one", async (t) => {
  // Without limits there is no cgroup: the figures are what init reaped (wait4), per run.
  const box = new Sandbox({ pool: 1 });
  await box.warm();
  const big = await box.run([
    'python3',
    '-c',
    'b = bytearray(64 * 1024 * 1024)\nimport time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass',
  ]);
  await box.warm();
  const small = await box.run(['true']);
  t.is(big.outcome, 'ok');
  t.true(big.memoryPeakBytes >= 64 * 2 ** 20, `peak ${big.memoryPeakBytes}`);
  t.true(big.cpuTimeMs >= 200, `cpu ${big.cpuTimeMs}`);
  t.true(small.memoryPeakBytes < 16 * 2 ** 20, `the small run's own peak: ${small.memoryPeakBytes}`);
  // Not the big run's figure carried over (the small one's own is ~1 ms here, ~70 ms in an emulated guest).
  t.true(small.cpuTimeMs < big.cpuTimeMs - 150, `the small run's own CPU: ${small.cpuTimeMs} (the big one's ${big.cpuTimeMs})`);
  await box.close();
});

test('the command cannot end its reaper: pid 1 ignores what it sends', async (t) => {
  const box = new Sandbox({ pool: 1 });
  await box.warm();
  const r = await box.run(['sh', '-c', 'kill -KILL 1; echo $PPID; echo alive']);
  t.is(r.outcome, 'ok');
  t.is(text(r.stdout), '1\nalive\n');
  await box.close();
});

test('the command of a warm run is scheduled as any process (its init waits as SCHED_BATCH)', async (t) => {
  const box = new Sandbox({ pool: 1 });
  await box.warm();
  // Field 41 of /proc/PID/stat is the scheduling policy: 0 SCHED_OTHER, 3 SCHED_BATCH.
  const r = await box.run(['sh', '-c', 'cut -d" " -f41 /proc/self/stat; cut -d" " -f41 /proc/1/stat']);
  t.is(text(r.stdout), '0\n3\n');
  await box.close();
});
