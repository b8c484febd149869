// The fallback where overlayfs is refused (docs/images-run.md): an image runs from its flattened
// tree, bound read-only (or its top-level entries on a tmpfs root when it lacks a mount point);
// a writable root is refused; the fallback is said once. SANDBOX_IMAGE_OVERLAY=0 takes this path
// on a kernel that has overlayfs (each test file runs in a process of its own). Root and rootless.
process.env.SANDBOX_IMAGE_OVERLAY = '0';

import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { Sandbox, SandboxError } from '../../lib/index.js';
import { BUSYBOX, baseLayer, fixtureImage, flatOfTwoLayers, layerScratch, twoLayerImage } from '../helpers/image-layers.js';
import { text } from '../helpers/host.js';

const scratch = layerScratch('image-flat');
test.after.always(() => scratch.remove());
if (BUSYBOX === null && process.env.CI === 'true') throw new Error('busybox-static is required in CI (.ci/run installs it)');
const maybe = BUSYBOX !== null ? test : test.skip;
if (BUSYBOX === null) test.skip('image runs need busybox-static (apt-get install busybox-static)', () => {});

const warnings: string[] = [];
process.on('warning', (w) => {
  if ((w as { code?: string }).code === 'SANDBOX_IMAGE_FLAT') warnings.push(w.message);
});

function flatImage(name: string, config = {}) {
  const dir = join(scratch.path, name);
  mkdirSync(dir);
  const img = twoLayerImage(dir, config);
  const flat = join(dir, 'flat');
  flatOfTwoLayers(flat);
  return { ...img, flat };
}

maybe('the flattened tree is the root: read-only, the image config applied, said once', async (t) => {
  const box = new Sandbox({ image: flatImage('a', { user: 'app', workingDir: '/home/app' }) });
  for (let i = 0; i < 2; i++) {
    const r = await box.run(['sh', '-c', 'echo $(id -u) $(pwd) $GREETING; ls /etc /data/old; touch /x 2>&1; true']);
    t.is(r.outcome, 'ok', text(r.stderr));
    t.is(
      text(r.stdout),
      '1234 /home/app hello\n/data/old:\nfresh\n\n/etc:\ngroup\nlayer1\npasswd\nresolv.conf\ntouch: /x: Read-only file system\n',
    );
  }
  await new Promise((r) => setImmediate(r));
  t.is(warnings.length, 1, 'the fallback is said once per process');
  t.regex(warnings[0]!, /turned off \(SANDBOX_IMAGE_OVERLAY=0\): images run from their flattened trees, bound read-only/);
});

maybe('a tree without /proc, /dev, /tmp: its top-level entries on a tmpfs root', async (t) => {
  const bare = join(scratch.path, 'bare');
  baseLayer(bare, false);
  const r = await new Sandbox({ image: fixtureImage('localhost/bare:1', [bare]) }).run([
    'sh',
    '-c',
    'ls /; echo ok > /tmp/t && cat /tmp/t; touch /bin/x 2>&1; true',
  ]);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), 'bin\ndata\ndev\netc\nhome\nproc\ntmp\nok\ntouch: /bin/x: Read-only file system\n');
  t.deepEqual(readdirSync(bare).sort(), ['bin', 'data', 'etc', 'home']);
});

maybe('writable needs overlayfs: one clear error, nothing run', async (t) => {
  const e = await t.throwsAsync(new Sandbox({ image: flatImage('w'), writable: true }).run(['true']), { instanceOf: SandboxError });
  t.is(e!.stage, 'image');
  t.regex(e!.message, /^image "localhost\/fixture:two": a writable root needs overlayfs, which is refused here/);
});

maybe('no flattened tree and no store to make one: a SandboxError naming the image', async (t) => {
  const dir = join(scratch.path, 'noflat');
  mkdirSync(dir);
  const box = new Sandbox({ image: twoLayerImage(dir) });
  const e = await t.throwsAsync(box.run(['true']), { instanceOf: SandboxError });
  t.is(e!.stage, 'image');
  t.regex(e!.message, /^image "localhost\/fixture:two"/);
});
