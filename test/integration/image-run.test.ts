// Running in an image (docs/images-run.md): the image's config applied as docker applies it, its
// layers composed by overlayfs in the sandbox's user namespace, a read-only root, a writable layer
// per run, whiteouts, warm pools, and limits with the same verdicts as on the default root. The
// images are made here, in the store's form (test/helpers/image-layers.ts), from busybox-static.
// Root and rootless (test/helpers/run-rootless.js).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { Sandbox, SandboxError, type Outcome } from '../../lib/index.js';
import { BUSYBOX, baseLayer, fixtureImage, layerScratch, twoLayerImage } from '../helpers/image-layers.js';
import { FOREIGN_ID_BASE, storedOwner } from '../../lib/image/owners.js';
import { isRoot, text } from '../helpers/host.js';

const ci = process.env.CI === 'true';
const scratch = layerScratch('image-run');
test.after.always(() => scratch.remove());

const haveBusybox = BUSYBOX !== null;
if (!haveBusybox && ci) throw new Error('busybox-static is required in CI (.ci/run installs it)');
const maybe = haveBusybox ? test : test.skip;
if (!haveBusybox) test.skip('image runs need busybox-static (apt-get install busybox-static)', () => {});

let n = 0;
function image(config: Parameters<typeof twoLayerImage>[1] = {}) {
  const dir = join(scratch.path, `img${n++}`);
  mkdirSync(dir);
  return twoLayerImage(dir, config);
}

const sh = (script: string) => ['sh', '-c', script];

maybe('Env is the base environment: PATH from the image, HOME from its passwd, env adds and overrides', async (t) => {
  const img = image({ env: ['PATH=/bin', 'GREETING=hello', 'KEEP=image'], user: 'app' });
  const box = new Sandbox({ image: img, env: { GREETING: 'overridden', EXTRA: '1' } });
  const r = await box.run(sh('env | sort'));
  t.is(r.outcome, 'ok', text(r.stderr));
  const env = text(r.stdout)
    .trim()
    .split('\n')
    .filter((l) => !/^(PWD|SHLVL)=/.test(l));
  t.deepEqual(env, ['EXTRA=1', 'GREETING=overridden', 'HOME=/home/app', 'KEEP=image', 'PATH=/bin']);
  const perRun = await box.run(sh('echo $GREETING'), { env: { GREETING: 'per run' } });
  t.is(text(perRun.stdout), 'per run\n');
});

maybe("an image without PATH gets docker's default PATH; an unknown user's HOME is /", async (t) => {
  const img = image({ env: ['A=1'], user: '4321' });
  const r = await new Sandbox({ image: img }).run(['/bin/sh', '-c', 'echo "$PATH $HOME"; id -u; id -g']);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /\n4321\n0\n');
});

maybe('WorkingDir is the default working directory; cwd overrides it; a missing one is made', async (t) => {
  const img = image({ workingDir: '/home/app' });
  t.is(text((await new Sandbox({ image: img }).run(['pwd'])).stdout), '/home/app\n');
  t.is(text((await new Sandbox({ image: img, cwd: '/etc' }).run(['pwd'])).stdout), '/etc\n');
  t.is(text((await new Sandbox({ image: img }).run(['pwd'], { cwd: '/data' })).stdout), '/data\n');
  const missing = await new Sandbox({ image: image({ workingDir: '/srv/made' }) }).run(sh('pwd; touch /x 2>&1; true'));
  t.is(missing.outcome, 'ok', text(missing.stderr));
  t.regex(text(missing.stdout), /^\/srv\/made\ntouch: \/x: Read-only file system\n$/, 'made, and the root is still read-only');
});

maybe('User: a name, uid:gid, name:group from the image; no User is root by name (with no capabilities)', async (t) => {
  const cases: [string | null, string][] = [
    [null, '0 0 root'],
    ['app', '1234 2345 app'],
    ['app:staff', '1234 50 app'],
    ['1234:7', '1234 7 app'],
  ];
  for (const [user, want] of cases) {
    const r = await new Sandbox({ image: image({ user }) }).run(sh('echo $(id -u) $(id -g) $(id -un)'));
    t.is(r.outcome, 'ok', text(r.stderr));
    t.is(text(r.stdout).trim(), want, `User ${JSON.stringify(user)}`);
  }
  const caps = await new Sandbox({ image: image() }).run(sh('grep -E "^Cap(Eff|Prm)" /proc/self/status'));
  t.is(text(caps.stdout), 'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n');
});

maybe('an unknown user or group name is a SandboxError naming the image and the name', (t) => {
  const e = t.throws(() => new Sandbox({ image: image({ user: 'ghost' }) }), { instanceOf: SandboxError });
  t.is(e!.stage, 'image');
  t.regex(e!.message, /image "localhost\/fixture:two": cannot resolve its User "ghost": no user "ghost" in the image's \/etc\/passwd/);
  const g = t.throws(() => new Sandbox({ image: image({ user: 'app:nogroup-here' }) }), { instanceOf: SandboxError });
  t.regex(g!.message, /no group "nogroup-here"/);
});

maybe('Entrypoint + Cmd as docker: no command runs both, a command replaces Cmd, entrypoint replaces both', async (t) => {
  const img = image({ entrypoint: ['echo', 'ep'], cmd: ['default', 'cmd'] });
  t.is(text((await new Sandbox({ image: img }).run([])).stdout), 'ep default cmd\n');
  t.is(text((await new Sandbox({ image: img }).run(['given'])).stdout), 'ep given\n');
  t.is(text((await new Sandbox({ image: img, entrypoint: ['echo', 'other'] }).run([])).stdout), 'other\n', 'Cmd dropped');
  t.is(text((await new Sandbox({ image: img, entrypoint: [] }).run(['echo', 'plain'])).stdout), 'plain\n', 'Entrypoint cleared');
  const none = new Sandbox({ image: image({ entrypoint: null, cmd: null }) });
  const e = await t.throwsAsync(none.run([]), { instanceOf: SandboxError });
  t.regex(e!.message, /has no Entrypoint or Cmd: give a command/);
});

maybe('the root is read-only; /tmp is writable; the layers on disk never change', async (t) => {
  const img = image();
  const before = readdirSync(img.layers[1]!).sort();
  const r = await new Sandbox({ image: img }).run(sh('touch /new 2>&1; (echo x > /etc/layer1) 2>&1; echo ok > /tmp/t && cat /tmp/t'));
  t.is(r.outcome, 'ok', text(r.stderr));
  t.regex(text(r.stdout), /touch: \/new: Read-only file system\n.*Read-only file system\nok\n$/s);
  t.deepEqual(readdirSync(img.layers[1]!).sort(), before);
  t.is(readFileSync(join(img.layers[1]!, 'etc/layer1'), 'utf8'), 'from layer 1\n');
});

maybe('whiteouts and opaque directories are honoured, the top layer wins', async (t) => {
  const r = await new Sandbox({ image: image() }).run(
    sh('ls /etc; ls /data/old; cat /data/shadowed; test -e /etc/removed-later || echo gone'),
  );
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), 'group\nlayer1\npasswd\nresolv.conf\nfresh\nlayer 1 version\ngone\n');
});

maybe("writable: changes are the run's own, gone at its end; the image and the next run never see them", async (t) => {
  const img = image();
  const box = new Sandbox({ image: img, writable: true });
  const r = await box.run(
    sh('echo changed > /etc/layer1 && rm /data/shadowed && mkdir /new && echo hi > /new/f && cat /etc/layer1 /new/f; ls /data'),
  );
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), 'changed\nhi\nold\n');
  const next = await box.run(sh('cat /etc/layer1 /data/shadowed; test -e /new || echo no-new'));
  t.is(text(next.stdout), 'from layer 1\nlayer 1 version\nno-new\n');
  t.is(readFileSync(join(img.layers[1]!, 'etc/layer1'), 'utf8'), 'from layer 1\n');
  t.is(readFileSync(join(img.layers[0]!, 'data/shadowed'), 'utf8'), 'base version\n');
});

(isRoot ? test : test.skip)(
  "root caller, writable: the image's root owns the image's files inside, and is a host id that owns nothing else, without capabilities",
  async (t) => {
    if (!haveBusybox) return t.fail('busybox-static missing');
    const img = image();
    const r = await new Sandbox({ image: img, writable: true }).run(
      sh(
        [
          'id -u',
          'cat /proc/self/uid_map /proc/self/gid_map',
          'stat -c %u:%g /etc/passwd',
          'echo "extra:x:7:7::/:/bin/sh" >> /etc/passwd && tail -n1 /etc/passwd',
          'stat -c %u:%g /etc/passwd',
          'touch /etc/new && stat -c %u:%g /etc/new',
          'grep CapEff /proc/self/status',
          'chown 1234 /etc/new 2>&1 || echo chown refused',
        ].join('; '),
      ),
    );
    t.is(r.outcome, 'ok', text(r.stderr));
    const lines = text(r.stdout).trim().split('\n');
    t.is(lines[0], '0');
    t.regex(lines[1]!, new RegExp(`^\\s*0\\s+${FOREIGN_ID_BASE}\\s+65536$`), 'uid map: the foreign range');
    t.regex(lines[2]!, new RegExp(`^\\s*0\\s+${FOREIGN_ID_BASE}\\s+65536$`), 'gid map: the foreign range');
    t.deepEqual(lines.slice(3), [
      '0:0',
      'extra:x:7:7::/:/bin/sh',
      '0:0',
      '0:0',
      'CapEff:\t0000000000000000',
      'chown: /etc/new: Operation not permitted',
      'chown refused',
    ]);
    t.notRegex(readFileSync(join(img.layers[0]!, 'etc/passwd'), 'utf8'), /extra/, 'the layer on disk is unchanged');
  },
);

maybe("tty: the terminal is /dev/pts/0 inside the image, opened by that name (root: given to the image user's host id)", async (t) => {
  const r = await new Sandbox({ image: image({ user: 'app' }), tty: true }).run(
    sh('readlink /proc/self/fd/0; test -t 1 && echo tty; id -u'),
  );
  t.is(r.outcome, 'ok', text(r.stdout));
  t.deepEqual(text(r.stdout).split(/\r?\n/).filter(Boolean), ['/dev/pts/0', 'tty', '1234']);
});

maybe('writableSize caps the writable layer (ENOSPC beyond it)', async (t) => {
  const box = new Sandbox({ image: image(), writable: true, writableSize: '4m' });
  const r = await box.run(sh('dd if=/dev/zero of=/big bs=1M count=8 2>&1; echo status=$?'));
  t.is(r.outcome, 'ok', text(r.stderr));
  t.regex(text(r.stdout), /No space left on device[\s\S]*status=1/);
});

maybe('one layer is bound read-only; a layer without /proc, /dev, /tmp gets them made, and stays read-only', async (t) => {
  const full = join(scratch.path, 'single-full');
  baseLayer(full);
  const bare = join(scratch.path, 'single-bare');
  baseLayer(bare, false);
  for (const dir of [full, bare]) {
    const r = await new Sandbox({ image: fixtureImage('localhost/one:layer', [dir]) }).run(
      sh('ls /proc/self/fd >/dev/null && echo ok > /tmp/t && cat /tmp/t; touch /x 2>&1; true'),
    );
    t.is(r.outcome, 'ok', text(r.stderr));
    t.is(text(r.stdout), 'ok\ntouch: /x: Read-only file system\n', dir);
  }
  t.deepEqual(readdirSync(bare).sort(), ['bin', 'data', 'etc', 'home'], 'nothing made on disk');
});

maybe('a pool runs in the image: config applied, nothing of one run reaches the next', async (t) => {
  const box = new Sandbox({ image: image({ user: 'app', workingDir: '/home/app' }), pool: 1 });
  try {
    await box.warm();
    const a = await box.run(sh('echo $(id -u) $(pwd) $GREETING; echo left > /tmp/mark; ls /tmp'));
    t.is(a.outcome, 'ok', text(a.stderr));
    t.is(text(a.stdout), '1234 /home/app hello\nmark\n');
    const b = await box.run(sh('ls -A /tmp; touch /x 2>&1; true'));
    t.is(text(b.stdout), 'touch: /x: Read-only file system\n', '/tmp is empty again, the root still read-only');
    t.is(text((await box.run(['echo', 'again'])).stdout), 'again\n');
  } finally {
    await box.close();
  }
});

maybe('pool with a writable root is refused with one clear line', (t) => {
  const e = t.throws(() => new Sandbox({ image: image(), writable: true, pool: 2 }), { instanceOf: SandboxError });
  t.is(e!.stage, 'options');
  t.regex(e!.message, /^options\.pool: a writable root is a layer of one run/);
});

maybe('bad combinations are option errors', (t) => {
  const img = image();
  t.throws(() => new Sandbox({ image: img, rootfs: '/' }), { instanceOf: SandboxError, message: /exclude each other/ });
  t.throws(() => new Sandbox({ writable: true }), { instanceOf: SandboxError, message: /writable only with image or rootfs/ });
  t.throws(() => new Sandbox({ image: img, writableSize: '1m' }), { instanceOf: SandboxError, message: /writableSize only with writable/ });
  t.throws(() => new Sandbox({ entrypoint: ['x'] }), { instanceOf: SandboxError, message: /entrypoint only with image/ });
  t.throws(() => new Sandbox({ image: 'anything:tag' }), { instanceOf: SandboxError, message: /image "anything:tag"/ });
});

maybe('a setup failure names the step and errno: a layer that is not there', async (t) => {
  const img = image();
  const broken = { ...img, layers: [img.layers[0]!, join(scratch.path, 'no-such-layer')] };
  const e = await t.throwsAsync(new Sandbox({ image: broken }).run(['true']), { instanceOf: SandboxError });
  t.is(e!.stage, 'mount');
  t.regex(e!.message, /^cannot mount overlay on \/ \(the new root\) from .*no-such-layer.*: no such file or directory/i);
});

// Limits: the same program (busybox) under the same limits gives the same verdict in the image as
// on the default root, whichever enforcement this caller has (cgroup as root, rlimits rootless here).
const LIMIT_CASES: { name: string; options: object; argv: string[]; outcome: Outcome }[] = [
  { name: 'cpu time', options: { timeLimit: 0.3 }, argv: ['busybox', 'sh', '-c', 'while :; do :; done'], outcome: 'cpu-time-limit' },
  { name: 'wall time', options: { wallTimeLimit: 0.3 }, argv: ['busybox', 'sleep', '5'], outcome: 'wall-time-limit' },
  {
    name: 'output',
    options: { outputLimit: '64k' },
    argv: ['busybox', 'dd', 'if=/dev/zero', 'bs=64k', 'count=16'],
    outcome: 'output-limit',
  },
];
for (const c of LIMIT_CASES) {
  maybe(`limits in an image: ${c.name} gives the verdict the default root gives`, async (t) => {
    const host = await new Sandbox(c.options).run(c.argv);
    const inImage = await new Sandbox({ ...c.options, image: image() }).run(c.argv);
    t.is(host.outcome, c.outcome, text(host.stderr));
    t.is(inImage.outcome, host.outcome, text(inImage.stderr));
    t.is(inImage.enforcement, host.enforcement);
  });
}

maybe('limits in an image: memory gives the verdict the default root gives', async (t) => {
  // busybox dd allocates its block: 64 MiB under a 32 MiB cap.
  const argv = ['busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'];
  const host = await new Sandbox({ memory: '32m' }).run(argv);
  const inImage = await new Sandbox({ memory: '32m', image: image() }).run(argv);
  t.not(host.outcome, 'ok', text(host.stderr));
  t.is(inImage.outcome, host.outcome, `${text(host.stderr)} / ${text(inImage.stderr)}`);
  t.is(inImage.enforcement, host.enforcement);
});

(isRoot ? test : test.skip)('a device node or a setuid-root file in a layer grants nothing (root makes them)', async (t) => {
  if (!haveBusybox) return t.fail('busybox-static missing');
  const img = image({ user: 'app' });
  const top = img.layers[1]!;
  mkdirSync(join(top, 'nodes'), { recursive: true });
  for (const [name, minor] of [
    ['mem', '1'],
    ['null', '3'],
  ] as const) {
    t.is(spawnSync('mknod', ['-m', '0666', join(top, 'nodes', name), 'c', '1', minor]).status, 0);
  }
  // busybox runs the applet named by argv[1] when argv[0] is "busybox".
  mkdirSync(join(top, 'suid'));
  copyFileSync(BUSYBOX!, join(top, 'suid/busybox'));
  chownSync(join(top, 'suid/busybox'), 0, 0);
  chmodSync(join(top, 'suid/busybox'), 0o4755);
  // The image's own root, as the store keeps it (lib/image/owners.ts).
  mkdirSync(join(top, 'image-root'));
  copyFileSync(BUSYBOX!, join(top, 'image-root/busybox'));
  chownSync(join(top, 'image-root/busybox'), storedOwner(0), storedOwner(0));
  chmodSync(join(top, 'image-root/busybox'), 0o4755);
  const r = await new Sandbox({ image: img }).run(
    sh(
      'cat /nodes/null 2>&1; head -c1 /nodes/mem 2>&1; (echo x > /nodes/null) 2>&1; /suid/busybox id -u; /image-root/busybox id -u; stat -c %u:%a /image-root/busybox',
    ),
  );
  t.is(r.outcome, 'ok', text(r.stderr));
  const lines = text(r.stdout).trim().split('\n');
  t.is(lines.length, 6);
  for (const l of lines.slice(0, 3)) t.regex(l, /Permission denied|Operation not permitted/);
  t.is(lines[3], '1234', 'the setuid bit of a host-root file did not make it root');
  t.is(lines[4], '1234', "the setuid bit of the image's root's file did not make it root");
  t.is(lines[5], '0:4755', "the file is the image's root's inside, setuid bit shown");
});

maybe("network 'host': the host's resolv.conf on the image's, as docker gives it", async (t) => {
  const host = readFileSync('/etc/resolv.conf', 'utf8');
  const r = await new Sandbox({ image: image(), network: 'host' }).run(['cat', '/etc/resolv.conf']);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), host);
});
