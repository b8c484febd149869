// Image references normalised as docker normalises them (lib/image/ref.ts).
import test from 'ava';
import { SandboxError } from '../../lib/errors.js';
import { familiarRef, normalizeRef, parseRef } from '../../lib/image/ref.js';
import { parseChallenge } from '../../lib/image/auth.js';
import { isLocalHost } from '../../lib/image/registry.js';

test('names normalise to registry/repository:tag', (t) => {
  const cases: [string, string][] = [
    ['python', 'docker.io/library/python:latest'],
    ['python:3.12-slim', 'docker.io/library/python:3.12-slim'],
    ['user/app:1', 'docker.io/user/app:1'],
    ['ghcr.io/a/b', 'ghcr.io/a/b:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['127.0.0.1:5000/x:2', '127.0.0.1:5000/x:2'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    [`busybox@sha256:${'a'.repeat(64)}`, `docker.io/library/busybox@sha256:${'a'.repeat(64)}`],
    [`busybox:1@sha256:${'b'.repeat(64)}`, `docker.io/library/busybox:1@sha256:${'b'.repeat(64)}`],
  ];
  for (const [input, want] of cases) t.is(normalizeRef(input), want, input);
  t.is(familiarRef('docker.io/library/python:3'), 'python:3');
  t.is(familiarRef('docker.io/user/app:1'), 'user/app:1');
  t.is(parseRef('127.0.0.1:5000/x').registry, '127.0.0.1:5000');
});

test('bad references are SandboxErrors naming the reference', (t) => {
  for (const bad of ['', 'UPPER', 'a//b', 'x:', 'x@sha256:zz', 'x:' + 't'.repeat(200), 'a/../b']) {
    const e = t.throws(() => parseRef(bad), { instanceOf: SandboxError }, bad);
    t.is(e!.stage, 'image');
    t.true(e!.message.startsWith(`image ${JSON.stringify(bad)}: not a valid image reference`), bad);
  }
});

test('WWW-Authenticate challenges and plain-HTTP hosts', (t) => {
  t.deepEqual(
    parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
    {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    },
  );
  t.is(parseChallenge('Basic realm="x"').scheme, 'basic');
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1:80', '127.9.8.7', '[::1]:5000']) t.true(isLocalHost(h), h);
  for (const h of ['example.com', '10.0.0.1:5000', '128.0.0.1', 'localhost.evil.com']) t.false(isLocalHost(h), h);
});
