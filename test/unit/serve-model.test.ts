// The pure parts of `sandbox serve`: request checking, paths in /w, the multipart reader, the
// Prometheus text, the file store's caps and TTL. No kernel involved.
import test from 'ava';
import { SandboxError } from '../../lib/errors.js';
import { FileStore } from '../../lib/job/file-store.js';
import { parseRequest, workPath } from '../../lib/job/parse.js';
import { Metrics } from '../../lib/serve/metrics.js';
import { boundaryOf, formFile } from '../../lib/serve/multipart.js';
import { splitAddress } from '../../lib/serve/server.js';

test("go-judge's documented compile request parses as it is", (t) => {
  const req = parseRequest({
    cmd: [
      {
        args: ['/usr/bin/g++', 'a.cc', '-o', 'a'],
        env: ['PATH=/usr/bin:/bin'],
        files: [{ content: '' }, { name: 'stdout', max: 10240 }, { name: 'stderr', max: 10240 }],
        cpuLimit: 10000000000,
        memoryLimit: 104857600,
        procLimit: 50,
        copyIn: { 'a.cc': { content: 'int main(){}' } },
        copyOut: ['stdout', 'stderr'],
        copyOutCached: ['a'],
        unknownField: 'ignored, as go-judge ignores it',
      },
    ],
  });
  t.deepEqual(req.cmd[0]!.files, [{ content: '' }, { name: 'stdout', max: 10240 }, { name: 'stderr', max: 10240 }]);
  t.is(req.cmd[0]!.cpuLimit, 1e10);
  t.deepEqual(req.cmd[0]!.copyOutCached, ['a']);
});

test('paths stay in /w', (t) => {
  t.is(workPath('a/./b//c', 'x'), 'a/b/c');
  t.is(workPath('/w/a', 'x'), 'a');
  for (const bad of ['../a', 'a/../../b', '/etc/passwd', '', '.', 'a\0b']) {
    const e = t.throws(() => workPath(bad, 'copyIn'), { instanceOf: SandboxError });
    t.is(e!.stage, 'request');
  }
});

test('a bad request names its field; copyOut keeps the optional mark', (t) => {
  const fails = (body: unknown, re: RegExp) => t.throws(() => parseRequest(body), { instanceOf: SandboxError, message: re });
  fails({}, /no cmd provided/);
  fails({ cmd: [{ args: [] }] }, /cmd\[0\]\.args/);
  fails({ cmd: [{ args: ['x'], memoryLimit: 1.5 }] }, /cmd\[0\]\.memoryLimit/);
  fails({ cmd: [{ args: ['x'], env: 'PATH=/bin' }] }, /cmd\[0\]\.env/);
  fails({ cmd: [{ args: ['x'], files: [{ streamIn: true }] }] }, /stream/);
  fails({ cmd: [{ args: ['x'], copyOutDir: '/tmp' }] }, /copyOutDir/);
  fails({ cmd: [{ args: ['x'] }, { args: ['y'] }], pipeMapping: [{ in: { index: 0, fd: 0 }, out: { index: 1, fd: 0 } }] }, /in\.fd/);
  fails(
    {
      cmd: [{ args: ['x'], files: [{ content: '' }] }, { args: ['y'] }],
      pipeMapping: [{ in: { index: 1, fd: 1 }, out: { index: 0, fd: 0 } }],
    },
    /must be null for a pipe end/,
  );
  t.deepEqual(parseRequest({ cmd: [{ args: ['x'], copyOut: ['out?', 'b'] }] }).cmd[0]!.copyOut, ['out?', 'b']);
});

test('multipart: the "file" part with its name and exact bytes', (t) => {
  const boundary = boundaryOf('multipart/form-data; boundary=----xyz');
  t.is(boundary, '----xyz');
  const payload = Buffer.from([0, 1, 2, 13, 10, 45, 45, 255]);
  const body = Buffer.concat([
    Buffer.from('------xyz\r\nContent-Disposition: form-data; name="other"\r\n\r\nno\r\n'),
    Buffer.from(
      '------xyz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
    ),
    payload,
    Buffer.from('\r\n------xyz--\r\n'),
  ]);
  const f = formFile(body, boundary!, 'file');
  t.is(f?.filename, 'a.bin');
  t.deepEqual(f?.data, payload);
  t.is(formFile(body, boundary!, 'missing'), null);
  t.is(boundaryOf('application/json'), null);
});

test('metrics: counters, histogram and gauges in the text format', (t) => {
  const m = new Metrics();
  m.request('POST /run', 200);
  m.run(0.003, ['Accepted', 'Time Limit Exceeded']);
  const text = m.render({ sandbox_serve_pool_sandboxes: { help: 'x', value: 3 } });
  t.regex(text, /^sandbox_serve_requests_total\{route="POST \/run",code="200"\} 1$/m);
  t.regex(text, /^sandbox_serve_results_total\{status="Time Limit Exceeded"\} 1$/m);
  t.regex(text, /^sandbox_serve_run_duration_seconds_bucket\{le="0.002"\} 0$/m);
  t.regex(text, /^sandbox_serve_run_duration_seconds_bucket\{le="0.005"\} 1$/m);
  t.regex(text, /^sandbox_serve_pool_sandboxes 3$/m);
});

test('the file store: caps, ids, removal', async (t) => {
  const store = new FileStore({ maxBytes: 10, maxFiles: 2, ttlMs: 0 });
  const id = await store.add('a', Buffer.from('12345'));
  t.regex(id, /^[A-Z2-7]{16}$/);
  await t.throwsAsync(store.add('b', Buffer.from('123456')), { message: /file store full/ });
  await store.add('c', Buffer.from('1'));
  await t.throwsAsync(store.add('d', Buffer.from('1')), { message: /2 files/ });
  t.deepEqual((await store.get(id))?.data, Buffer.from('12345'));
  t.true(store.remove(id));
  t.false(store.remove(id));
  t.is(await store.get(id), null);
  t.is(store.bytes, 1);
});

test('--http addresses', (t) => {
  t.deepEqual(splitAddress('127.0.0.1:5050'), { host: '127.0.0.1', port: 5050 });
  t.deepEqual(splitAddress(':0'), { host: '127.0.0.1', port: 0 });
  t.deepEqual(splitAddress('[::1]:80'), { host: '::1', port: 80 });
  t.throws(() => splitAddress('5050'), { message: /HOST:PORT/ });
});

test('the file store drops a file unused past its TTL', async (t) => {
  const store = new FileStore({ ttlMs: 50 });
  const id = await store.add('a', Buffer.from('x'));
  let left = 1;
  for (let i = 0; i < 100 && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    left = store.count;
  }
  t.is(left, 0);
  t.is(await store.get(id), null);
  store.close();
});
