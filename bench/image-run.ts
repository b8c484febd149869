// Per-run cost of an image root: `await sandbox.run(['/bin/true'])` in an image (two busybox layers
// composed by overlayfs; one layer, bound read-only; a writable layer on a tmpfs) against the
// default root, fresh and warm (`pool: 1`), beside `child_process.spawn`, interleaved in one
// process as bench/latency.ts does. Issue 17, "Figures": an image costs at most 0.3 ms more at p50,
// and a warm sandbox in an image is no slower than spawn. In the image /bin/true is busybox's (a
// static program); a diagnostic pair runs the very same file, /bin/busybox, on both roots.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from '../lib/index.js';
import type { ResolvedImage } from '../lib/image/types.js';
import { isMain, ms, note, nowMs, percentile, ratio, row, runAlone, spawnToExit, type BenchOptions, type Row } from './common.js';

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p)) ?? null;

/** A layer with busybox at /bin/busybox and /bin/true, /bin/sh pointing to it, and the mount points a run needs. */
function busyboxLayer(dir: string, extra: string): string {
  for (const d of ['bin', 'proc', 'dev', 'tmp', 'etc', extra]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(BUSYBOX!, join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  for (const a of ['true', 'sh']) symlinkSync('busybox', join(dir, 'bin', a));
  chmodSync(dir, 0o755);
  return dir;
}

function imageOf(layers: string[]): ResolvedImage {
  return {
    ref: 'localhost/bench:busybox',
    id: 'sha256:' + '0'.repeat(64),
    layers,
    flat: null,
    config: { env: ['PATH=/bin'], workingDir: null, user: null, entrypoint: null, cmd: null },
    platform: 'linux/amd64',
  };
}

export async function imageRunBench(o: BenchOptions): Promise<Row[]> {
  if (BUSYBOX === null) return [row('image: run(/bin/true)', 'missing', 'busybox-static is not installed', '', '')];
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-bench-image-'));
  chmodSync(dir, 0o755);
  const two = imageOf([busyboxLayer(join(dir, 'l0'), 'usr'), busyboxLayer(join(dir, 'l1'), 'srv')]);
  const one = imageOf([busyboxLayer(join(dir, 'single'), 'usr')]);
  const plain = new Sandbox({ idleTimeout: 0 });
  const layered = new Sandbox({ image: two, idleTimeout: 0 });
  const single = new Sandbox({ image: one, idleTimeout: 0 });
  const writable = new Sandbox({ image: two, writable: true, idleTimeout: 0 });
  const warm = new Sandbox({ pool: 1 });
  const warmImage = new Sandbox({ image: two, pool: 1 });
  await Promise.all([warm.warm(), warmImage.warm()]);
  const variants: { name: string; run: () => Promise<unknown>; samples: number[] }[] = [
    { name: 'spawn', run: () => spawnToExit(['/bin/true']), samples: [] },
    { name: 'default', run: () => plain.run(['/bin/true']), samples: [] },
    { name: 'image', run: () => layered.run(['/bin/true']), samples: [] },
    { name: 'single', run: () => single.run(['/bin/true']), samples: [] },
    { name: 'writable', run: () => writable.run(['/bin/true']), samples: [] },
    { name: 'warm', run: () => warm.run(['/bin/true']), samples: [] },
    { name: 'warm-image', run: () => warmImage.run(['/bin/true']), samples: [] },
    { name: 'default-busybox', run: () => plain.run([BUSYBOX, 'true']), samples: [] },
    { name: 'image-busybox', run: () => layered.run(['/bin/busybox', 'true']), samples: [] },
  ];
  const warmup = 20;
  const deadline = nowMs() + o.budgetS * 1000;
  let iter = 0;
  for (; iter < warmup + 1000; iter++) {
    if (iter >= warmup + 50 && nowMs() > deadline) break;
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(iter + k) % variants.length]!;
      const t0 = nowMs();
      await v.run();
      if (iter >= warmup) v.samples.push(nowMs() - t0);
    }
  }
  await Promise.all([warm.close(), warmImage.close()]);
  rmSync(dir, { recursive: true, force: true });
  note(`image: ${iter - warmup} interleaved iterations after ${warmup} warm-up`);
  const p = (name: string, q = 50) => percentile(variants.find((v) => v.name === name)!.samples, q);
  const more = (a: number, b: number) => `${a - b >= 0 ? '+' : ''}${ms(a - b)}`;
  const base = p('default');
  return [
    row(
      `image (2 layers, overlay) run(/bin/true) p50 (n=${iter - warmup})`,
      ms(p('image')),
      `default root ${ms(base)}`,
      more(p('image'), base),
      '≤ +0.30 ms',
    ),
    row('image (1 layer, bind) run(/bin/true) p50', ms(p('single')), `default root ${ms(base)}`, more(p('single'), base), '≤ +0.30 ms'),
    row('image writable (tmpfs upper) run(/bin/true) p50', ms(p('writable')), `default root ${ms(base)}`, more(p('writable'), base), ''),
    row('image run(/bin/true) p99', ms(p('image', 99)), `default root ${ms(p('default', 99))}`, more(p('image', 99), p('default', 99)), ''),
    row(
      'warm image (pool: 1) run(/bin/true) p50',
      ms(p('warm-image')),
      `spawn ${ms(p('spawn'))}`,
      ratio(p('warm-image'), p('spawn')),
      '≤ 1.00×',
    ),
    row(
      'warm image run(/bin/true) p50 vs warm default root',
      ms(p('warm-image')),
      `warm default ${ms(p('warm'))}`,
      more(p('warm-image'), p('warm')),
      '',
    ),
    row(
      'diag: the same /bin/busybox true, image vs default root p50',
      ms(p('image-busybox')),
      `default root ${ms(p('default-busybox'))}`,
      more(p('image-busybox'), p('default-busybox')),
      '',
    ),
  ];
}

if (isMain(import.meta.url)) await runAlone('image-run', imageRunBench, Number(process.env.BENCH_BUDGET_S ?? 30));
