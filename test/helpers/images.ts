// Real images for the image store's tests, made with tools nobody here wrote: a busybox-static root
// filesystem tar → `podman import` → `podman save` (docker-archive, oci-archive) → `skopeo copy`
// (OCI layout). Built once per content key by root into a world-readable directory, so the rootless
// pass (test/helpers/run-rootless.js) reads the same files. docker-registry is started per test file
// on 127.0.0.1 and a free port, plain HTTP.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** The reason a test cannot run here, or null. In CI a missing tool is a failure, not a skip. */
export function missing(tools: string[]): string | null {
  const gone = tools.filter((t) => !have(t));
  if (gone.length === 0) return null;
  const why = `needs ${gone.join(', ')} (apt-get install ${gone.map((t) => (t === 'busybox' ? 'busybox-static' : t)).join(' ')})`;
  if (process.env.CI === 'true') throw new Error(`CI: ${why}`);
  return why;
}

const BUSYBOX = '/bin/busybox';
const ROOT = process.env.SANDBOX_IMAGE_FIXTURES ?? '/tmp/sandbox-image-fixtures';

export interface Fixtures {
  dir: string;
  rootfsTar: string;
  dockerArchive: string;
  ociArchive: string;
  ociLayout: string;
  /** A second image whose lower layer is the first one's (shares a layer). */
  childDockerArchive: string;
  /** The same rootfs as an arm64 image (docker-archive), for platform choice. */
  armDockerArchive: string;
}

function paths(dir: string): Fixtures {
  return {
    dir,
    rootfsTar: join(dir, 'busybox.tar'),
    dockerArchive: join(dir, 'bb-docker.tar'),
    ociArchive: join(dir, 'bb-oci.tar'),
    ociLayout: join(dir, 'bb-layout'),
    childDockerArchive: join(dir, 'child-docker.tar'),
    armDockerArchive: join(dir, 'bb-arm64-docker.tar'),
  };
}

/** Builds (once) the podman/skopeo fixtures; null with a reason when that is impossible here. */
export function podmanFixtures(): Fixtures | string {
  const key = createHash('sha256')
    .update(readFileSync(BUSYBOX))
    .update(execFileSync('podman', ['--version']))
    .update('v2')
    .digest('hex')
    .slice(0, 16);
  const dir = join(ROOT, key);
  if (existsSync(join(dir, 'done'))) return paths(dir);
  if (process.getuid?.() !== 0) return `the podman fixtures are built by root (run the root pass first): ${dir} is missing`;
  mkdirSync(ROOT, { recursive: true, mode: 0o755 });
  chmodSync(ROOT, 0o755);
  const work = mkdtempSync(join(ROOT, `build-${process.pid}-`));
  const f = paths(work);
  const rootfs = join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'usr/bin']) mkdirSync(join(rootfs, d), { recursive: true });
  execFileSync('cp', [BUSYBOX, join(rootfs, 'bin/busybox')]);
  for (const c of ['sh', 'echo', 'cat', 'ls', 'true', 'id', 'env']) symlinkSync('busybox', join(rootfs, 'bin', c));
  writeFileSync(join(rootfs, 'etc/greeting'), 'hello from the image\n');
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  execFileSync('tar', ['-C', rootfs, '--numeric-owner', '-cf', f.rootfsTar, '.']);
  const tag = `localhost/sandbox-fixture-${key}`;
  const run = (args: string[]): void => void execFileSync('podman', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run([
    'import',
    '--change',
    'ENV=PATH=/bin:/usr/bin',
    '--change',
    'ENV=GREETING=hi',
    '--change',
    'WORKDIR=/etc',
    '--change',
    'CMD=["/bin/cat","/etc/greeting"]',
    f.rootfsTar,
    `${tag}:1`,
  ]);
  run(['save', '--format', 'docker-archive', '-o', f.dockerArchive, `${tag}:1`]);
  run(['save', '--format', 'oci-archive', '-o', f.ociArchive, `${tag}:1`]);
  execFileSync('skopeo', ['copy', '-q', `oci-archive:${f.ociArchive}`, `oci:${f.ociLayout}:v1`]);
  // A child image: one more layer on top of the first (a file added, one deleted: a whiteout).
  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  writeFileSync(
    join(ctx, 'Containerfile'),
    `FROM ${tag}:1\nRUN ["/bin/sh", "-c", "echo child > /etc/child && rm /etc/greeting && mkdir -p /opt/d && echo x > /opt/d/x"]\n`,
  );
  run(['build', '--isolation', 'chroot', '-q', '-t', `${tag}-child:1`, ctx]);
  run(['save', '--format', 'docker-archive', '-o', f.childDockerArchive, `${tag}-child:1`]);
  run(['import', '--arch', 'arm64', f.rootfsTar, `${tag}-arm64:1`]);
  run(['save', '--format', 'docker-archive', '-o', f.armDockerArchive, `${tag}-arm64:1`]);
  for (const t of [`${tag}:1`, `${tag}-child:1`, `${tag}-arm64:1`]) spawnSync('podman', ['rmi', '-f', t], { stdio: 'ignore' });
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(ctx, { recursive: true, force: true });
  execFileSync('chmod', ['-R', 'a+rX', work]);
  writeFileSync(join(work, 'done'), '');
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // another test file built it meanwhile
  }
  return paths(dir);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RunningRegistry {
  host: string;
  stop(): Promise<void>;
}

/** Debian's docker-registry on 127.0.0.1:PORT, storage in a temp directory, plain HTTP, no auth. */
export async function startRegistry(): Promise<RunningRegistry> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'registry-'));
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** skopeo copy SRC → docker://HOST/REPO over plain HTTP. */
export function pushTo(src: string, host: string, repo: string, extra: string[] = []): void {
  // An empty auth file of our own: as an ordinary user skopeo otherwise reads /run/containers/UID.
  const auth = join(tmpdir(), `skopeo-auth-${process.pid}.json`);
  writeFileSync(auth, '{"auths":{}}\n');
  execFileSync('skopeo', ['copy', '-q', ...extra, '--authfile', auth, '--dest-tls-verify=false', src, `docker://${host}/${repo}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  rmSync(auth, { force: true });
}

/** Every path under DIR with its type and size: the store's state, to compare before and after. */
export function snapshot(dir: string): string {
  const r = spawnSync('find', [dir, '-printf', '%P %y %s\\n'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('lock'))
    .sort()
    .join('\n');
}
