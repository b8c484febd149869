// `sandbox serve` against go-judge's API, with a real HTTP client (fetch), real sandboxes and a
// real compiler: compile then run by fileId, a checker, an interactive problem over pipeMapping,
// the verdicts, large inputs, the file API, /ws and the errors a bad request gets.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import WebSocket from 'ws';
import { isRoot, processesWithArgv, scratchDir, uniqueSeconds, waitFor } from '../helpers/host.js';
import { cmd, startServer, type TestServer } from '../helpers/serve.js';

const data = scratchDir('serve-data');
mkdirSync(join(data.path, 'p1'));
writeFileSync(join(data.path, 'p1', '1.in'), '20 22\n');
// A small /w (as root) so that filling it is quick even in an emulated guest.
const s: TestServer = await startServer({ srcPrefix: [data.path], workDirSize: 64 << 20 });
// Whether runs with limits get a cgroup here: asked of a real run, as the MLE test needs one.
const probe = (await s.run({ cmd: [cmd(['/bin/true'])] })).body[0];
const haveCgroup = probe.sandbox.enforcement !== 'rlimit';

test.after.always(async () => {
  await s?.close();
  data.remove();
});

const APLUSB = '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n';

test.serial('compile with copyOutCached, run the binary by fileId, check the answer', async (t) => {
  // Generous limits: g++ runs 20 times slower in an emulated guest.
  const compile = await s.run({
    cmd: [cmd(['/usr/bin/g++', 'a.cc', '-o', 'a'], { cpuLimit: 300e9, copyIn: { 'a.cc': { content: APLUSB } }, copyOutCached: ['a'] })],
  });
  t.is(compile.code, 200);
  const [c] = compile.body;
  t.is(c.status, 'Accepted', c.files?.stderr);
  t.regex(c.fileIds.a, /^[A-Z2-7]{16}$/);
  t.true(c.time > 0 && c.runTime > 0 && c.memory > 0);

  // go-judge runs a bare name copied into /w; stdin from a host file under --src-prefix.
  const run = await s.run({
    cmd: [
      {
        ...cmd(['a'], { cpuLimit: 30e9, copyIn: { a: { fileId: c.fileIds.a } } }),
        files: [{ src: join(data.path, 'p1', '1.in') }, { name: 'stdout', max: 1024 }, { name: 'stderr', max: 1024 }],
      },
    ],
  });
  t.is(run.code, 200);
  t.is(run.body[0].status, 'Accepted');
  t.is(run.body[0].files.stdout, '42\n');
  t.is(run.body[0].exitStatus, 0);

  // A checker step: the contestant's output and the answer copied in, diff's verdict.
  const check = async (out: string) =>
    (await s.run({ cmd: [cmd(['/usr/bin/diff', '-b', 'out', 'ans'], { copyIn: { out: { content: out }, ans: { content: '42\n' } } })] }))
      .body[0];
  t.is((await check(run.body[0].files.stdout)).status, 'Accepted');
  const wrong = await check('41\n');
  t.is(wrong.status, 'Nonzero Exit Status');
  t.is(wrong.exitStatus, 1);

  // The cached binary is in the store until deleted.
  const got = await fetch(`${s.url}/file/${c.fileIds.a}`);
  t.is(got.status, 200);
  t.is((await got.arrayBuffer()).byteLength > 1000, true);
  t.is((await fetch(`${s.url}/file/${c.fileIds.a}`, { method: 'DELETE' })).status, 200);
  t.is((await fetch(`${s.url}/file/${c.fileIds.a}`)).status, 404);
  const gone = await s.run({ cmd: [cmd(['a'], { copyIn: { a: { fileId: c.fileIds.a } } })] });
  t.is(gone.body[0].status, 'File Error');
  t.is(gone.body[0].fileError[0].type, 'CopyInOpenFile');
});

// The interactor picks 37 in 1..100 and answers each guess with <, > or =; the solution
// bisects. Their stdin and stdout are joined by pipeMapping, one pipe proxied and recorded.
const INTERACTOR = `secret=37; n=0
while read g; do n=$((n+1))
  if [ "$g" -lt $secret ]; then echo '>'; elif [ "$g" -gt $secret ]; then echo '<'; else echo '='; echo "found in $n" >&2; exit 0; fi
done; echo 'no answer' >&2; exit 1
`;
const SOLUTION = `lo=1; hi=100
while :; do m=$(( (lo+hi)/2 )); echo $m; read r
  case $r in '=') exit 0;; '>') lo=$((m+1));; '<') hi=$((m-1));; esac
done
`;

test.serial('an interactive problem: solution and interactor connected by pipeMapping', async (t) => {
  const res = await s.run({
    cmd: [
      {
        args: ['/bin/sh', 'sol.sh'],
        files: [null, null, { name: 'stderr', max: 1024 }],
        cpuLimit: 5e9,
        copyIn: { 'sol.sh': { content: SOLUTION } },
        copyOut: ['stderr'],
      },
      {
        args: ['/bin/sh', 'int.sh'],
        files: [null, null, { name: 'stderr', max: 1024 }],
        cpuLimit: 5e9,
        copyIn: { 'int.sh': { content: INTERACTOR } },
        copyOut: ['stderr'],
      },
    ],
    pipeMapping: [
      { in: { index: 0, fd: 1 }, out: { index: 1, fd: 0 }, proxy: true, name: 'guesses', max: 1024 },
      { in: { index: 1, fd: 1 }, out: { index: 0, fd: 0 } },
    ],
  });
  t.is(res.code, 200);
  const [sol, int] = res.body;
  t.is(sol.status, 'Accepted', sol.files?.stderr);
  t.is(int.status, 'Accepted', int.files?.stderr);
  t.regex(int.files.stderr, /^found in \d+\n$/);
  t.is(sol.files.guesses.trim().split('\n').at(-1), '37');
});

test.serial('verdicts: time, output, signal, and memory where a cgroup enforces it', async (t) => {
  const [tle, ole, sig] = (
    await Promise.all([
      s.run({ cmd: [cmd(['/bin/sh', '-c', 'while :; do :; done'], { cpuLimit: 3e8, clockLimit: 60e9 })] }),
      s.run({ cmd: [{ ...cmd(['/usr/bin/yes']), files: [{ content: '' }, { name: 'stdout', max: 1000 }, { name: 'stderr', max: 100 }] }] }),
      s.run({ cmd: [cmd(['/bin/sh', '-c', 'kill -SEGV $$'])] }),
    ])
  ).map((r) => r.body[0]);
  t.is(tle.status, 'Time Limit Exceeded');
  // The CPU limit ended it, not the clock: its CPU time reached the limit.
  t.is(tle.sandbox.outcome, 'cpu-time-limit', JSON.stringify(tle));
  t.true(tle.time >= 3e8, JSON.stringify(tle));
  t.is(ole.status, 'Output Limit Exceeded');
  t.deepEqual(ole.fileError, [{ name: 'stdout', type: 'CollectSizeExceeded' }]);
  t.is(ole.files.stdout.length, 1000);
  t.is(sig.status, 'Signalled');
  t.is(sig.exitStatus, 11);
  const clock = (await s.run({ cmd: [cmd(['/bin/sleep', '5'], { cpuLimit: 1e9, clockLimit: 3e8 })] })).body[0];
  t.is(clock.status, 'Time Limit Exceeded');
  t.true(clock.runTime < 3e9);
});

(haveCgroup ? test.serial : test.skip)('Memory Limit Exceeded under a cgroup memory limit', async (t) => {
  const res = await s.run({
    // CPU time to spare: under emulation (the VM guests) filling 64 MiB through tr takes over the
    // default 5 s, which would end it as a time limit first.
    cmd: [
      cmd(['/bin/sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'], {
        memoryLimit: 64 << 20,
        cpuLimit: 120e9,
        clockLimit: 240e9,
      }),
    ],
  });
  const [r] = res.body;
  t.is(r.status, 'Memory Limit Exceeded');
  t.is(r.sandbox.outcome, 'memory-limit');
  t.true(r.sandbox.enforcement.startsWith('cgroup'));
});

test.serial('a 1 MB input copied in and on stdin; copyOut limits and optional names', async (t) => {
  const big = 'x'.repeat(1 << 20);
  const res = await s.run({
    cmd: [
      cmd(
        ['/bin/sh', '-c', 'wc -c < in; wc -c; cp in out'],
        { copyIn: { in: { content: big } }, copyOut: ['stdout', 'out', 'missing?'], copyOutMax: 2 << 20 },
        big,
      ),
    ],
  });
  const [r] = res.body;
  t.is(r.status, 'Accepted');
  t.is(r.files.stdout, '1048576\n1048576\n');
  t.is(r.files.out.length, 1 << 20);
  t.false('missing' in r.files);
  const over = (await s.run({ cmd: [cmd(['/bin/sh', '-c', 'head -c 5000 /dev/zero > f'], { copyOut: ['f'], copyOutMax: 1000 })] })).body[0];
  t.is(over.status, 'File Error');
  t.is(over.fileError[0].type, 'CopyOutSizeExceeded');
  const truncated = (
    await s.run({
      cmd: [cmd(['/bin/sh', '-c', 'head -c 5000 /dev/zero > f'], { copyOut: ['f'], copyOutMax: 1000, copyOutTruncate: true })],
    })
  ).body[0];
  t.is(truncated.status, 'Accepted');
  t.is(truncated.files.f.length, 1000);
  // A file's bytes may hold NUL, as go-judge takes them: copied in and on stdin exactly.
  const nul = (
    await s.run({
      cmd: [
        cmd(['/bin/sh', '-c', 'wc -c < bin; tr -d "\\000" < bin | wc -c; wc -c'], { copyIn: { bin: { content: 'a\0b\0' } } }, '\0\0\0'),
      ],
    })
  ).body[0];
  t.is(nul.status, 'Accepted', JSON.stringify(nul));
  t.is(nul.files.stdout, '4\n2\n3\n');
});

test.serial('copyOut never follows a link the command made, nor reads past /w', async (t) => {
  const [r] = (
    await s.run({ cmd: [cmd(['/bin/sh', '-c', 'ln -s /etc/passwd p; mkdir d; ln -s /etc d2'], { copyOut: ['p', 'd2/passwd'] })] })
  ).body;
  t.is(r.status, 'File Error');
  t.deepEqual(
    r.fileError.map((f: { type: string }) => f.type),
    ['CopyOutNotRegularFile', 'CopyOutNotRegularFile'],
  );
  t.false(JSON.stringify(r).includes('root:'));
});

test.serial("copyIn never writes through a link, not even one of the request's own", async (t) => {
  const outside = scratchDir('serve-outside');
  try {
    const [r] = (
      await s.run({
        cmd: [
          cmd(['/bin/true'], {
            copyIn: { d: { symlink: outside.path }, 'd/planted': { content: 'x' }, 'e/f': { content: 'y' }, 'e/f/g': { content: 'z' } },
          }),
        ],
      })
    ).body;
    t.is(r.status, 'File Error', JSON.stringify(r));
    t.is(r.fileError[0].type, 'CopyInCreateFile');
    t.false(existsSync(join(outside.path, 'planted')));
    const linked = (
      await s.run({ cmd: [cmd(['/bin/sh', '-c', 'readlink d; cat d/x'], { copyIn: { d: { symlink: '/etc' }, x: { content: 'x' } } })] })
    ).body[0];
    t.is(linked.status, 'Nonzero Exit Status');
    t.regex(linked.files.stdout, /^\/etc\n/);
  } finally {
    outside.remove();
  }
});

test.serial('each command gets an empty /w, writable, and a read-only root', async (t) => {
  const a = (await s.run({ cmd: [cmd(['/bin/sh', '-c', 'echo x > left; touch /usr/x 2>/dev/null && echo rw; pwd; ls'])] })).body[0];
  const b = (await s.run({ cmd: [cmd(['/bin/sh', '-c', 'ls; echo end'])] })).body[0];
  t.is(a.files.stdout, '/w\nleft\n');
  t.is(b.files.stdout, 'end\n');
});

(isRoot ? test.serial : test.skip)('as root, /w is a tmpfs of its own: a command cannot fill the disk', async (t) => {
  const fill = 'for i in 1 2 3 4; do head -c 25000000 /dev/zero > f$i || { echo "stopped at $i"; exit 3; }; done';
  const [r] = (await s.run({ cmd: [cmd(['/bin/sh', '-c', fill], { memoryLimit: 2 ** 30, cpuLimit: 300e9 })] })).body;
  t.is(r.status, 'Nonzero Exit Status', JSON.stringify(r));
  t.regex(r.files.stdout, /stopped at 3/);
  t.regex(r.files.stderr, /No space left on device/);
});

test.serial('malformed requests are 400s with a JSON string, and nothing runs', async (t) => {
  const bad = async (body: unknown) => {
    const r = await s.run(body);
    t.is(r.code, 400, JSON.stringify(body));
    t.is(typeof r.body, 'string');
    return r.body as string;
  };
  t.is(await bad({ cmd: [] }), 'no cmd provided');
  t.regex(await bad('{"cmd": ['), /invalid JSON/);
  t.regex(await bad({ cmd: [{ args: 'ls' }] }), /cmd\[0\]\.args/);
  t.regex(await bad({ cmd: [{ args: ['ls'], cpuLimit: -1 }] }), /cmd\[0\]\.cpuLimit/);
  t.regex(await bad({ cmd: [{ args: ['ls'], copyIn: { '../x': { content: '' } } }] }), /inside the working directory/);
  t.regex(await bad({ cmd: [{ args: ['ls'], files: [null, null, null, null] }] }), /fds 0, 1 and 2/);
  t.regex(await bad({ cmd: [{ args: ['ls'], copyIn: { x: { src: '/etc/shadow' } } }] }), /not under/);
  t.regex(await bad({ cmd: [{ args: ['ls'], files: [{ nothing: 1 }] }] }), /not valid/);
  t.regex(
    await bad({ cmd: [{ args: ['ls'] }], pipeMapping: [{ in: { index: 5, fd: 1 }, out: { index: 0, fd: 0 } }] }),
    /pipeMapping\[0\]\.in\.index/,
  );
  t.regex(await bad([1, 2]), /JSON object/);
  t.is((await fetch(`${s.url}/nowhere`)).status, 404);
  t.is((await fetch(`${s.url}/file/%E0%A4%A`)).status, 400);
});

test.serial('the file API: upload, list, download, delete', async (t) => {
  const form = new FormData();
  form.append('file', new Blob([Buffer.from('hello store')]), 'greeting.txt');
  const up = await fetch(`${s.url}/file`, { method: 'POST', body: form });
  t.is(up.status, 200);
  const id = (await up.json()) as string;
  t.is(((await (await fetch(`${s.url}/file`)).json()) as Record<string, string>)[id], 'greeting.txt');
  t.is(await (await fetch(`${s.url}/file/${id}`)).text(), 'hello store');
  const r = (await s.run({ cmd: [{ ...cmd(['/bin/cat']), files: [{ fileId: id }, { name: 'stdout', max: 100 }, null] }] })).body[0];
  t.is(r.files.stdout, 'hello store');
  t.is((await fetch(`${s.url}/file`, { method: 'POST', body: 'raw' })).status, 400);
  t.is((await fetch(`${s.url}/file/${id}`, { method: 'DELETE' })).status, 200);
  t.is((await fetch(`${s.url}/file/${id}`, { method: 'DELETE' })).status, 404);
});

test.serial('a client that disconnects mid-run gets its sandboxes killed', async (t) => {
  const seconds = uniqueSeconds(30);
  const abort = new AbortController();
  const pending = s.run({ cmd: [cmd(['/bin/sleep', seconds])] }, { signal: abort.signal }).catch((e: Error) => e);
  t.true(await waitFor(() => processesWithArgv(['/bin/sleep', seconds]).length === 1, 10_000), 'the command started');
  abort.abort();
  t.true((await pending) instanceof Error);
  t.true(await waitFor(() => processesWithArgv(['/bin/sleep', seconds]).length === 0, 5000), 'the command was killed');
  let running = -1;
  for (let i = 0; i < 100 && running !== 0; i++) {
    running = (await s.server.runner.stats()).running;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.is(running, 0, 'the request ended');
});

test.serial('/ws runs requests by id and cancels them', async (t) => {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/ws`);
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  const answers: any[] = [];
  ws.on('message', (m) => answers.push(JSON.parse(m.toString())));
  const seconds = uniqueSeconds(30);
  ws.send(JSON.stringify({ requestId: 'slow', cmd: [cmd(['/bin/sleep', seconds])] }));
  ws.send(JSON.stringify({ requestId: 'echo', cmd: [cmd(['/bin/echo', 'over ws'])] }));
  t.true(await waitFor(() => answers.some((a) => a.requestId === 'echo'), 20_000));
  t.is(answers.find((a) => a.requestId === 'echo').results[0].files.stdout, 'over ws\n');
  t.true(await waitFor(() => processesWithArgv(['/bin/sleep', seconds]).length === 1, 10_000));
  ws.send(JSON.stringify({ cancelRequestId: 'slow' }));
  t.true(await waitFor(() => answers.some((a) => a.requestId === 'slow'), 10_000));
  t.is(answers.find((a) => a.requestId === 'slow').error, 'request cancelled');
  t.true(await waitFor(() => processesWithArgv(['/bin/sleep', seconds]).length === 0, 5000));
  // A connection still open does not keep a stopping server from ending: it is closed (1001).
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  const other = await startServer();
  const ws2 = new WebSocket(`${other.url.replace('http', 'ws')}/ws`);
  await new Promise((r, j) => (ws2.once('open', r), ws2.once('error', j)));
  const closed2 = new Promise<number>((r) => ws2.once('close', (code) => r(code)));
  await other.close();
  t.is(await closed2, 1001);
  ws.close();
  await closed;
});

test.serial('/metrics, /version and /config', async (t) => {
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  t.regex(metrics, /sandbox_serve_results_total\{status="Accepted"\} \d+/);
  t.regex(metrics, /sandbox_serve_run_duration_seconds_count \d+/);
  t.regex(metrics, /sandbox_serve_pool_sandboxes \d+/);
  const version = (await (await fetch(`${s.url}/version`)).json()) as Record<string, unknown>;
  t.is(version.os, 'linux');
  const config = (await (await fetch(`${s.url}/config`)).json()) as Record<string, unknown>;
  t.is(config.copyOutOptional, true);
});
