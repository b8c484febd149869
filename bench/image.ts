// The image store's figures beside tools nobody here wrote, on the same archive in the same run:
//   import of an OCI archive      vs  skopeo copy oci-archive: → oci: + umoci unpack
//   pull from docker-registry     vs  skopeo copy docker:// → oci: + umoci unpack
//   extraction throughput         vs  tar -xzf of the same layer blob
//   store size                    vs  the compressed layers; a second name costs no layer
// The archive is the Python image (test/helpers/python-image.sh, as root), or SANDBOX_BENCH_IMAGE
// (a rootfs tarball). Run: npm run build:ts && node dist/bench/image.js
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importImage, pullImage } from '../lib/index.js';
import { diskUsage } from '../lib/image/store.js';
import { removeTree } from '../lib/image/fsutil.js';
import { isMain, loadText, note, nowMs, printTable, ratio, row, type Row } from './common.js';

const RUNS = Number(process.env.BENCH_IMAGE_RUNS ?? 3);

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = nowMs();
  await fn();
  return nowMs() - t0;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const secs = (msec: number): string => `${(msec / 1000).toFixed(2)} s`;
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

export async function imageBench(): Promise<Row[]> {
  const rootfs = process.env.SANDBOX_BENCH_IMAGE ?? sh('bash', ['test/helpers/python-image.sh']).trim();
  const work = mkdtempSync(join(tmpdir(), 'bench-image-'));
  const rootless = process.getuid?.() !== 0;
  const rows: Row[] = [];
  try {
    note(`archive: ${rootfs} (${mb(statSync(rootfs).size)})`);
    const tag = `localhost/sandbox-bench-${process.pid}:1`;
    sh('podman', ['import', rootfs, tag]);
    const archive = join(work, 'image-oci.tar');
    sh('podman', ['save', '--format', 'oci-archive', '-o', archive, tag]);
    sh('podman', ['rmi', '-f', tag]);
    const layout = join(work, 'layout');
    sh('skopeo', ['copy', '-q', `oci-archive:${archive}`, `oci:${layout}:t`]);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const blobs: string[] = manifest.layers.map((l: { digest: string }) => join(layout, 'blobs/sha256', l.digest.slice(7)));
    const compressed = blobs.reduce((n, b) => n + statSync(b).size, 0);
    const uncompressed = Number(sh('sh', ['-c', `cat ${blobs.map((b) => `'${b}'`).join(' ')} | gzip -dc | wc -c`]).trim());
    note(`layers: ${blobs.length}, ${mb(compressed)} compressed, ${mb(uncompressed)} as tar`);

    // Import vs skopeo + umoci.
    const ours: number[] = [];
    const theirs: number[] = [];
    const tarx: number[] = [];
    let storeBytes = 0;
    for (let i = 0; i < RUNS; i++) {
      const store = join(work, `store-${i}`);
      ours.push(await timed(() => importImage(archive, { store, name: 'bench:1' })));
      if (i === 0) {
        storeBytes = diskUsage(join(store, 'layers'));
        await importImage(archive, { store, name: 'bench:2' });
        const again = diskUsage(join(store, 'layers'));
        rows.push(row('store: a second name for the image', again === storeBytes ? 'no new layer bytes' : `+${mb(again - storeBytes)}`));
      }
      removeTree(store);
      const oci = join(work, `oci-${i}`);
      const bundle = join(work, `bundle-${i}`);
      theirs.push(
        await timed(() => {
          sh('skopeo', ['copy', '-q', `oci-archive:${archive}`, `oci:${oci}:t`]);
          sh('umoci', ['unpack', ...(rootless ? ['--rootless'] : []), '--image', `${oci}:t`, bundle]);
        }),
      );
      removeTree(oci);
      removeTree(bundle);
      const dest = join(work, `tarx-${i}`);
      execFileSync('mkdir', ['-p', dest]);
      tarx.push(
        await timed(() => {
          for (const b of blobs) sh('tar', ['-xzf', b, '-C', dest, '--numeric-owner']);
        }),
      );
      removeTree(dest);
    }
    const o = median(ours);
    const s = median(theirs);
    const x = median(tarx);
    rows.push(
      row(
        `import OCI archive (${mb(compressed)} gz), median of ${RUNS}`,
        secs(o),
        `skopeo copy + umoci unpack ${secs(s)}`,
        ratio(o, s),
        '≤ 1.0',
      ),
    );
    rows.push(
      row(
        'extraction throughput (tar bytes / import time)',
        `${(uncompressed / 1e6 / (o / 1000)).toFixed(0)} MB/s`,
        `tar -xzf ${(uncompressed / 1e6 / (x / 1000)).toFixed(0)} MB/s`,
        ratio(x, o),
      ),
    );
    rows.push(row('store size (layers, extracted)', mb(storeBytes), `compressed layers ${mb(compressed)}`, ratio(storeBytes, compressed)));

    // Pull from a local registry vs skopeo + umoci.
    const port = await freePort();
    const cfg = join(work, 'registry.yml');
    writeFileSync(
      cfg,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${work}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    const reg = spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' });
    try {
      const host = `127.0.0.1:${port}`;
      for (let i = 0; i < 50; i++) {
        try {
          if ((await fetch(`http://${host}/v2/`)).ok) break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const auth = join(work, 'auth.json');
      writeFileSync(auth, '{"auths":{}}');
      sh('skopeo', ['copy', '-q', '--authfile', auth, '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${host}/bench:1`]);
      const pulls: number[] = [];
      const base: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const store = join(work, `pstore-${i}`);
        pulls.push(await timed(() => pullImage(`${host}/bench:1`, { store })));
        removeTree(store);
        const oci = join(work, `poci-${i}`);
        const bundle = join(work, `pbundle-${i}`);
        base.push(
          await timed(() => {
            sh('skopeo', ['copy', '-q', '--authfile', auth, '--src-tls-verify=false', `docker://${host}/bench:1`, `oci:${oci}:t`]);
            sh('umoci', ['unpack', ...(rootless ? ['--rootless'] : []), '--image', `${oci}:t`, bundle]);
          }),
        );
        removeTree(oci);
        removeTree(bundle);
      }
      rows.push(
        row(
          `pull from docker-registry on 127.0.0.1, median of ${RUNS}`,
          secs(median(pulls)),
          `skopeo copy + umoci unpack ${secs(median(base))}`,
          ratio(median(pulls), median(base)),
          '≤ 1.0',
        ),
      );
    } finally {
      reg.kill('SIGTERM');
    }
  } finally {
    removeTree(work);
  }
  return rows;
}

if (isMain(import.meta.url)) {
  const before = loadText();
  const rows = await imageBench();
  printTable(rows, `image (load average before: ${before}; after: ${loadText()}; ${process.getuid?.() === 0 ? 'root' : 'rootless'})`);
}
