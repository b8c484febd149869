// The image's config as docker applies it, without a kernel: User resolution against the image's
// passwd and group files, Entrypoint + Cmd, Env (lib/image/user.ts, lib/image/apply.ts), and the
// doctor's overlayfs line (lib/doctor/checks.ts).
import test from 'ava';
import { SandboxError } from '../../lib/errors.js';
import { DOCKER_DEFAULT_PATH, imageArgv, type ImageRun } from '../../lib/image/apply.js';
import { resolveImageUser } from '../../lib/image/user.js';
import { overlayCheck } from '../../lib/doctor/checks.js';
import type { System } from '../../lib/doctor/system.js';

const PASSWD = [
  '# a comment',
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1234:2345:app:/home/app:/bin/sh',
  'nohome:x:77:78:::/bin/sh',
  'broken:x:notanumber:1:b:/b:/bin/sh',
  'short:x:5',
  '',
].join('\n');
const GROUP = 'root:x:0:\nappgrp:x:2345:\nstaff:x:50:app\n';

test('User resolved as runc resolves it', (t) => {
  const r = (user: string | null, passwd: string | null = PASSWD, group: string | null = GROUP) =>
    resolveImageUser(user, passwd, group, 'img');
  t.deepEqual(r(null), { uid: 0, gid: 0, home: '/root' });
  t.deepEqual(r(''), { uid: 0, gid: 0, home: '/root' });
  t.deepEqual(r(null, null, null), { uid: 0, gid: 0, home: '/' }, 'no passwd: root, home /');
  t.deepEqual(r('app'), { uid: 1234, gid: 2345, home: '/home/app' });
  t.deepEqual(r('1234'), { uid: 1234, gid: 2345, home: '/home/app' }, 'a number found in passwd takes its group and home');
  t.deepEqual(r('999'), { uid: 999, gid: 0, home: '/' }, 'a number not in passwd: gid 0, home /');
  t.deepEqual(r('app:staff'), { uid: 1234, gid: 50, home: '/home/app' });
  t.deepEqual(r('app:7'), { uid: 1234, gid: 7, home: '/home/app' });
  t.deepEqual(r('999:8'), { uid: 999, gid: 8, home: '/' });
  t.deepEqual(r('nohome'), { uid: 77, gid: 78, home: '/' });
  t.deepEqual(r('app:'), { uid: 1234, gid: 2345, home: '/home/app' }, 'an empty group keeps the primary');
});

test('User: names the image lacks, and ids no map can hold, are errors naming the image', (t) => {
  const bad: [string, RegExp][] = [
    ['ghost', /^image "img": cannot resolve its User "ghost": no user "ghost" in the image's \/etc\/passwd$/],
    ['broken', /no user "broken"/],
    ['app:wheel', /no group "wheel" in the image's \/etc\/group/],
    ['4294967295', /no user "4294967295"/],
  ];
  for (const [user, pattern] of bad) {
    const e = t.throws(() => resolveImageUser(user, PASSWD, GROUP, 'img'), { instanceOf: SandboxError }, user);
    t.is(e!.stage, 'image');
    t.regex(e!.message, pattern);
  }
});

function run(entrypoint: string[], cmd: string[]): ImageRun {
  const image = {
    ref: 'img',
    id: 'sha256:0',
    layers: ['/l'],
    flat: null,
    config: { env: [], workingDir: null, user: null, entrypoint: null, cmd: null },
    platform: 'linux/amd64',
  };
  return { image, writable: false, writableSize: 0, entrypoint, cmd, uid: 0, gid: 0 };
}

test('the command: Entrypoint + (the given command, else Cmd)', (t) => {
  t.deepEqual(imageArgv(run(['/entry', '-x'], ['default']), []), ['/entry', '-x', 'default']);
  t.deepEqual(imageArgv(run(['/entry'], ['default']), ['given', 'args']), ['/entry', 'given', 'args']);
  t.deepEqual(imageArgv(run([], ['sh']), []), ['sh']);
  t.deepEqual(imageArgv(run([], []), ['ls']), ['ls']);
  t.throws(() => imageArgv(run([], []), []), {
    instanceOf: SandboxError,
    message: /^image "img" has no Entrypoint or Cmd: give a command$/,
  });
});

test("docker's default PATH", (t) => {
  t.is(DOCKER_DEFAULT_PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
});

test('doctor: the overlayfs line says what images get here', (t) => {
  const sys = (overlay: System['overlay'], release = '6.1.0') => ({ release, overlay }) as unknown as System;
  const ok = overlayCheck(sys(() => ({ ok: true, errno: 0, detail: '' })));
  t.is(ok.status, 'ok');
  t.false(ok.neededByDefaults);
  const refused = overlayCheck(sys(() => ({ ok: false, errno: 1, detail: '' })));
  t.is(refused.status, 'warn');
  t.regex(refused.detail, /refused \(EPERM\); images run from their flattened trees/);
  t.regex(refused.fix!, /LSM/);
  t.regex(overlayCheck(sys(() => ({ ok: false, errno: 22, detail: '' }), '5.10.0')).fix!, /5\.11/);
  t.is(overlayCheck(sys(() => null)).status, 'info');
  t.regex(
    overlayCheck(sys(() => ({ ok: false, errno: 0, detail: 'turned off (SANDBOX_IMAGE_OVERLAY=0)' }))).fix!,
    /unset SANDBOX_IMAGE_OVERLAY/,
  );
});

test('a resolved image given as the image option is checked', async (t) => {
  const { Sandbox } = await import('../../lib/index.js');
  const good = {
    ref: 'x',
    id: 'sha256:0',
    layers: ['/l'],
    flat: null,
    config: { env: [], workingDir: null, user: null, entrypoint: null, cmd: null },
    platform: 'linux/amd64',
  };
  const bad: [object, RegExp][] = [
    [{ ...good, layers: ['relative'] }, /image\.layers\[0\]/],
    [{ ...good, config: { ...good.config, env: 'PATH=/bin' } }, /image\.config\.env/],
    [{ ...good, config: { ...good.config, cmd: [1] } }, /image\.config\.cmd/],
    [{ ...good, config: { ...good.config, user: 0 } }, /image\.config\.user/],
    [{ layers: [] }, /Expected an image name or a resolved image/],
  ];
  for (const [image, pattern] of bad) {
    t.throws(() => new Sandbox({ image: image as never }), { instanceOf: SandboxError, message: pattern });
  }
});
