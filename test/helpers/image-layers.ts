// ResolvedImage fixtures made by the test itself, in the form the store keeps (lib/image/types.ts):
// layer directories, whiteouts as 0/0 character devices (mknod(1); Linux 5.8 lets any user make
// one), opaque directories marked with user.overlay.opaque (set with Python's os.setxattr, as no
// Node API sets xattrs). The programs are busybox-static's, so the image needs no libc.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { storedOwner } from '../../lib/image/owners.js';
import type { ImageRunConfig, ResolvedImage } from '../../lib/image/types.js';

/** busybox-static; SANDBOX_TEST_BUSYBOX names another copy (a guest of test/vm without the package). */
export const BUSYBOX =
  [process.env.SANDBOX_TEST_BUSYBOX ?? '', '/bin/busybox', '/usr/bin/busybox'].find((p) => p !== '' && existsSync(p)) ?? null;

const APPLETS = [
  'sh',
  'cat',
  'ls',
  'id',
  'env',
  'pwd',
  'echo',
  'touch',
  'rm',
  'mkdir',
  'stat',
  'sleep',
  'true',
  'test',
  'printf',
  'head',
  'dd',
  'wc',
  'readlink',
  'ps',
];

export const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
export const GROUP = 'root:x:0:\nappgrp:x:2345:\nstaff:x:50:app\nnogroup:x:65534:\n';

function write(root: string, path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text, { mode });
  chmodSync(join(root, path), mode);
}

/** A whiteout of `path` in the layer `root`. */
export function whiteout(root: string, path: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  const r = spawnSync('mknod', [join(root, path), 'c', '0', '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mknod whiteout ${path}: ${r.stderr}`);
}

function setOpaque(dir: string): string | null {
  const py = 'import os,sys; os.setxattr(sys.argv[1], "user.overlay.opaque", b"y")';
  const r = spawnSync('python3', ['-c', py, dir], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr.trim().split('\n').pop() ?? `status ${r.status}`);
}

/** Marks the directory `path` of the layer `root` opaque. */
export function opaque(root: string, path: string): void {
  mkdirSync(join(root, path), { recursive: true });
  const failed = setOpaque(join(root, path));
  if (failed !== null) throw new Error(`setxattr user.overlay.opaque ${path}: ${failed}`);
}

/**
 * A scratch directory (mode 0755) on a filesystem that holds user.* xattrs, as layers need: the
 * system's temp directory, else /var/tmp (tmpfs has user xattrs only from Linux 6.6).
 */
export function layerScratch(prefix: string): { path: string; remove(): void } {
  const tried: string[] = [];
  for (const base of [tmpdir(), '/var/tmp']) {
    const path = mkdtempSync(join(base, `sandbox-${prefix}-`));
    chmodSync(path, 0o755);
    const failed = setOpaque(path);
    if (failed === null) return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
    rmSync(path, { recursive: true, force: true });
    tried.push(`${base}: ${failed}`);
  }
  throw new Error(`no directory for image layers holds user xattrs (${tried.join('; ')})`);
}

/** The base layer: busybox and its applets in /bin, /etc/passwd and /etc/group, the usual mount points. */
export function baseLayer(root: string, withMountPoints = true): void {
  if (BUSYBOX === null) throw new Error('busybox-static is not installed');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  write(root, 'etc/passwd', PASSWD);
  write(root, 'etc/group', GROUP);
  write(root, 'etc/removed-later', 'base\n');
  write(root, 'etc/resolv.conf', '');
  write(root, 'data/old/keep', 'hidden by an opaque directory\n');
  write(root, 'data/shadowed', 'base version\n');
  mkdirSync(join(root, 'home/app'), { recursive: true });
  if (withMountPoints) for (const d of ['proc', 'dev', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  ownAsStored(root);
}

/** As root, the store keeps an archive's owners shifted into the foreign range (lib/image/owners.ts): root's files are storedOwner(0)'s. */
export function ownAsStored(root: string): void {
  if (process.getuid?.() !== 0) return;
  const id = String(storedOwner(0));
  const r = spawnSync('chown', ['-R', '--no-dereference', `${id}:${id}`, root], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chown -R ${id}:${id} ${root}: ${r.stderr}`);
}

/** A second layer: a new file, a changed one, a whiteout and an opaque directory. */
export function upperLayer(root: string): void {
  write(root, 'etc/layer1', 'from layer 1\n');
  write(root, 'data/shadowed', 'layer 1 version\n');
  whiteout(root, 'etc/removed-later');
  opaque(root, 'data/old');
  write(root, 'data/old/fresh', 'layer 1\n');
  ownAsStored(root);
}

export function fixtureImage(ref: string, layers: string[], config: Partial<ImageRunConfig> = {}): ResolvedImage {
  return {
    ref,
    id: 'sha256:' + '0'.repeat(64),
    layers,
    flat: null,
    config: { env: ['PATH=/bin', 'GREETING=hello'], workingDir: null, user: null, entrypoint: null, cmd: ['sh'], ...config },
    platform: 'linux/amd64',
  };
}

/** A two-layer image in `dir`: base + upper. */
export function twoLayerImage(dir: string, config: Partial<ImageRunConfig> = {}): ResolvedImage {
  const l0 = join(dir, 'l0');
  const l1 = join(dir, 'l1');
  baseLayer(l0);
  upperLayer(l1);
  return fixtureImage('localhost/fixture:two', [l0, l1], config);
}

/** What the store's flattened tree of twoLayerImage() holds: the base with the upper applied. */
export function flatOfTwoLayers(root: string): void {
  baseLayer(root);
  write(root, 'etc/layer1', 'from layer 1\n');
  write(root, 'data/shadowed', 'layer 1 version\n');
  rmSync(join(root, 'etc/removed-later'));
  rmSync(join(root, 'data/old'), { recursive: true });
  write(root, 'data/old/fresh', 'layer 1\n');
}
