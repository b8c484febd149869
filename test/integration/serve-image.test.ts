// A command's `image` (docs/serve.md): each command of a /run request runs on its own root, the
// image's or the default one, with its /w and the request's pipes as on the default root. The
// image is a busybox-static rootfs imported into a store of this test's (`sandbox image import`).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { BUSYBOX, baseLayer, layerScratch } from '../helpers/image-layers.js';
import { cmd, startServer } from '../helpers/serve.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const built = join(root, 'dist/lib/sandbox-cli.cjs');
const cliArgv = existsSync(built) ? [built] : ['--import', 'tsx', join(root, 'lib/cli/main.ts')];

if (BUSYBOX === null && process.env.CI === 'true') throw new Error('busybox-static is required in CI (.ci/run installs it)');
const maybe = BUSYBOX !== null ? test : test.skip;
if (BUSYBOX === null) test.skip('a command in an image needs busybox-static (apt-get install busybox-static)', () => {});

maybe('each command runs on its own root: the image given, else the default one; pipes and /w as usual', async (t) => {
  const scratch = layerScratch('serve-image');
  t.teardown(() => scratch.remove());
  const rootfs = join(scratch.path, 'rootfs');
  baseLayer(rootfs);
  writeFileSync(join(rootfs, 'etc/judge-marker'), 'in the image\n');
  const tar = join(scratch.path, 'rootfs.tar');
  t.is(spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']).status, 0);
  // The store the runner's sandboxes resolve names in: this process's environment.
  process.env.SANDBOX_STORE = join(scratch.path, 'store');
  const imported = spawnSync(process.execPath, [...cliArgv, 'image', 'import', '--quiet', tar, 'localhost/judge:1'], {
    cwd: root,
    encoding: 'utf8',
  });
  t.is(imported.status, 0, imported.stderr);

  const s = await startServer();
  t.teardown(() => s.close());
  const marker = ['/bin/sh', '-c', 'cat /etc/judge-marker 2>&1; cat /w/in; test -e /usr/bin/g++ && echo host-root; true'];
  const res = await s.run({
    cmd: [
      cmd(marker, { image: 'localhost/judge:1', env: ['PATH=/bin'], copyIn: { in: { content: 'copied in\n' } } }),
      {
        ...cmd(['/bin/sh', '-c', 'cat /etc/judge-marker 2>/dev/null || echo default-root; read line; echo "got $line"']),
        files: [null, { name: 'stdout', max: 1024 }, { name: 'stderr', max: 1024 }],
      },
      {
        ...cmd(['/bin/echo', 'through the pipe'], { image: 'localhost/judge:1', env: ['PATH=/bin'] }),
        files: [null, null, { name: 'stderr', max: 1024 }],
        copyOut: ['stderr'],
      },
    ],
    pipeMapping: [{ in: { index: 2, fd: 1 }, out: { index: 1, fd: 0 } }],
  });
  t.is(res.code, 200, JSON.stringify(res.body));
  const [inImage, onDefault, writer] = res.body;
  t.is(inImage.status, 'Accepted', inImage.files?.stderr);
  t.is(inImage.files.stdout, 'in the image\ncopied in\n');
  t.is(onDefault.status, 'Accepted', onDefault.files?.stderr);
  t.is(onDefault.files.stdout, 'default-root\ngot through the pipe\n');
  t.is(writer.status, 'Accepted');

  const missing = await s.run({ cmd: [cmd(['/bin/true'], { image: 'localhost/nosuch:1' })] });
  t.is(missing.code, 400, 'an image the store does not hold is a bad request');
  t.regex(missing.body, /localhost\/nosuch:1.*not in the image store/);
});
