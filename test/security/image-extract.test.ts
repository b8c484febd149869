// Hostile layer tars, built here header by header, against the store's extraction: nothing lands
// outside the layer, no write goes through a link, no device or setuid bit survives; whiteouts,
// opaque directories, hard links, symbolic links, modes and mtimes are kept. Root and rootless.
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Header } from 'tar';
import { SandboxError, importImage, resolveImage } from '../../lib/index.js';
import { removeTree } from '../../lib/image/fsutil.js';
import { storedOwner } from '../../lib/image/owners.js';
import { native } from '../../lib/native.js';

interface Entry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  body?: string;
  linkpath?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmaj?: number;
  devmin?: number;
}

function tarOf(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({
      path: e.path,
      type: e.type ?? 'File',
      size: e.type === undefined || e.type === 'File' ? body.length : 0,
      mode: e.mode ?? (e.type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date('2020-01-02T03:04:05Z'),
      linkpath: e.linkpath,
      devmaj: e.devmaj ?? 0,
      devmin: e.devmin ?? 0,
    });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block);
    if (body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function setup(): { dir: string; store: string; outside: string } {
  const dir = mkdtempSync(join(tmpdir(), 'img-hostile-'));
  const outside = join(dir, 'outside');
  writeFileSync(outside, 'untouched\n');
  return { dir, store: join(dir, 'store'), outside };
}

async function importEntries(s: { dir: string; store: string }, name: string, entries: Entry[]): Promise<string> {
  const file = join(s.dir, `${name}.tar`);
  writeFileSync(file, tarOf(entries));
  await importImage(file, { store: s.store, name });
  return resolveImage(name, { store: s.store }).layers[0]!;
}

test("names with '..' refuse the layer; nothing is written outside", async (t) => {
  const s = setup();
  for (const path of ['../outside', 'a/../../outside', 'etc/../../../outside']) {
    const file = join(s.dir, 'dotdot.tar');
    writeFileSync(
      file,
      tarOf([
        { path: 'etc/', type: 'Directory' },
        { path, body: 'pwned\n' },
      ]),
    );
    const e = await t.throwsAsync(importImage(file, { store: s.store, name: 'dotdot' }), { instanceOf: SandboxError });
    t.regex(e!.message, /contains '\.\.'/);
  }
  t.is(readFileSync(s.outside, 'utf8'), 'untouched\n');
  t.throws(() => resolveImage('dotdot', { store: s.store }));
  removeTree(s.dir);
});

test('absolute names are confined to the layer; absolute symlinks are kept as written', async (t) => {
  const s = setup();
  const layer = await importEntries(s, 'abs', [
    { path: s.outside, body: 'inside\n' },
    { path: '/etc/passwd', body: 'root:x:0:0::/:/bin/sh\n' },
    { path: 'bin/sh', type: 'SymbolicLink', linkpath: '/bin/busybox' },
  ]);
  t.is(readFileSync(s.outside, 'utf8'), 'untouched\n');
  t.is(readFileSync(join(layer, s.outside), 'utf8'), 'inside\n');
  t.is(readFileSync(join(layer, 'etc/passwd'), 'utf8'), 'root:x:0:0::/:/bin/sh\n');
  t.is(readlinkSync(join(layer, 'bin/sh')), '/bin/busybox');
  removeTree(s.dir);
});

test('no write goes through a symbolic link, however it is reached', async (t) => {
  const s = setup();
  const cases: Entry[][] = [
    // a link to a directory outside, then a file "inside" it
    [
      { path: 'evil', type: 'SymbolicLink', linkpath: s.dir },
      { path: 'evil/outside', body: 'pwned\n' },
    ],
    // the same through a relative link
    [
      { path: 'up', type: 'SymbolicLink', linkpath: '../../../../../../../../..' + s.dir },
      { path: 'up/outside', body: 'pwned\n' },
    ],
    // a directory entry through a link
    [
      { path: 'd', type: 'SymbolicLink', linkpath: s.dir },
      { path: 'd/sub/', type: 'Directory' },
    ],
    // a hard link placed through a link
    [
      { path: 'f', body: 'x' },
      { path: 'l', type: 'SymbolicLink', linkpath: s.dir },
      { path: 'l/outside', type: 'Link', linkpath: 'f' },
    ],
    // a whiteout through a link
    [{ path: 'w', type: 'SymbolicLink', linkpath: s.dir }, { path: 'w/.wh.outside' }],
  ];
  for (const entries of cases) {
    const file = join(s.dir, 'link.tar');
    writeFileSync(file, tarOf(entries));
    const e = await t.throwsAsync(importImage(file, { store: s.store, name: 'link' }), { instanceOf: SandboxError });
    t.regex(e!.message, /symbolic link, and an entry would be written through it/);
    t.is(readFileSync(s.outside, 'utf8'), 'untouched\n');
  }
  // A file entry over an existing symbolic link replaces the link; it does not write through it.
  const layer = await importEntries(s, 'replace', [
    { path: 'x', type: 'SymbolicLink', linkpath: s.outside },
    { path: 'x', body: 'replaced\n' },
  ]);
  t.is(readFileSync(s.outside, 'utf8'), 'untouched\n');
  t.false(lstatSync(join(layer, 'x')).isSymbolicLink());
  t.is(readFileSync(join(layer, 'x'), 'utf8'), 'replaced\n');
  removeTree(s.dir);
});

test('hard links: kept inside the layer, refused when they point out', async (t) => {
  const s = setup();
  const layer = await importEntries(s, 'hard', [
    { path: 'usr/bin/a', body: 'same\n', mode: 0o755 },
    { path: 'usr/bin/b', type: 'Link', linkpath: 'usr/bin/a' },
    { path: 'c', type: 'Link', linkpath: '/usr/bin/a' },
  ]);
  const a = statSync(join(layer, 'usr/bin/a'));
  t.is(statSync(join(layer, 'usr/bin/b')).ino, a.ino);
  t.is(statSync(join(layer, 'c')).ino, a.ino, 'an absolute hard link name is the layer root');
  const bad: [Entry[], RegExp][] = [
    [[{ path: 'x', type: 'Link', linkpath: '../outside' }], /contains '\.\.'/],
    [[{ path: 'x', type: 'Link', linkpath: s.outside }], /not an earlier entry|not inside a directory of the layer/],
    [
      [
        { path: 'l', type: 'SymbolicLink', linkpath: s.dir },
        { path: 'x', type: 'Link', linkpath: 'l/outside' },
      ],
      /not inside a directory of the layer/,
    ],
    [
      [
        { path: 'd/', type: 'Directory' },
        { path: 'x', type: 'Link', linkpath: 'd' },
      ],
      /names a directory/,
    ],
  ];
  for (const [entries, re] of bad) {
    const file = join(s.dir, 'hl.tar');
    writeFileSync(file, tarOf(entries));
    const e = await t.throwsAsync(importImage(file, { store: s.store, name: 'hl' }), { instanceOf: SandboxError });
    t.regex(e!.message, re);
  }
  t.is(readFileSync(s.outside, 'utf8'), 'untouched\n');
  t.is(statSync(s.outside).nlink, 1, 'no link to the outside file was made');
  removeTree(s.dir);
});

test('setuid/setgid dropped, devices and FIFOs never made, modes and mtimes kept', async (t) => {
  const s = setup();
  const mtime = new Date('2021-05-06T07:08:09Z');
  const layer = await importEntries(s, 'modes', [
    { path: 'bin/', type: 'Directory', mode: 0o555, mtime },
    { path: 'bin/su', body: '#!/bin/sh\n', mode: 0o6755, mtime },
    { path: 'tmp/', type: 'Directory', mode: 0o1777 },
    { path: 'secret', body: 's', mode: 0o600 },
    { path: 'dev/sda', type: 'BlockDevice', devmaj: 8, devmin: 0 },
    { path: 'dev/mem', type: 'CharacterDevice', devmaj: 1, devmin: 1 },
    { path: 'dev/null', type: 'CharacterDevice', devmaj: 1, devmin: 3 },
    { path: 'fifo', type: 'FIFO' },
  ]);
  const su = statSync(join(layer, 'bin/su'));
  t.is(su.mode & 0o7777, 0o755);
  t.is(su.mtime.getTime(), mtime.getTime());
  const bin = statSync(join(layer, 'bin'));
  t.is(bin.mode & 0o7777, 0o555);
  t.is(bin.mtime.getTime(), mtime.getTime(), 'a directory keeps its mtime though files were written in it');
  t.is(statSync(join(layer, 'tmp')).mode & 0o7777, 0o1777);
  t.is(statSync(join(layer, 'secret')).mode & 0o7777, 0o600);
  for (const p of ['dev/sda', 'dev/mem', 'dev/null', 'fifo']) t.false(existsSync(join(layer, p)), p);
  removeTree(s.dir);
});

test("owners: shifted into the foreign range as root; the caller's as an ordinary user", async (t) => {
  const s = setup();
  const layer = await importEntries(s, 'owners', [
    { path: 'home/u/', type: 'Directory', uid: 1000, gid: 1000 },
    { path: 'home/u/f', body: 'x', uid: 1000, gid: 1001 },
    { path: 'home/u/l', type: 'SymbolicLink', linkpath: 'f', uid: 1000, gid: 1000 },
  ]);
  const f = lstatSync(join(layer, 'home/u/f'));
  const l = lstatSync(join(layer, 'home/u/l'));
  if (process.getuid!() === 0) {
    // A root caller's store shifts every owner into systemd's foreign range (lib/image/owners.ts).
    t.deepEqual([f.uid, f.gid, l.uid], [storedOwner(1000), storedOwner(1001), storedOwner(1000)]);
  } else {
    t.deepEqual([f.uid, f.gid, l.uid], [process.getuid!(), process.getgid!(), process.getuid!()]);
  }
  removeTree(s.dir);
});

test('whiteouts become 0/0 character devices; opaque directories carry user.overlay.opaque', async (t) => {
  const s = setup();
  const layer = await importEntries(s, 'wh', [
    { path: 'etc/', type: 'Directory' },
    { path: 'etc/.wh.gone' },
    { path: 'var/cache/', type: 'Directory' },
    { path: 'var/cache/.wh..wh..opq' },
    { path: 'var/cache/fresh', body: 'new' },
    { path: '.wh..wh.plnk/', type: 'Directory' },
  ]);
  const wh = lstatSync(join(layer, 'etc/gone'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.false(existsSync(join(layer, 'etc/.wh.gone')));
  t.is(native().getXattr(join(layer, 'var/cache'), 'user.overlay.opaque'), 'y');
  if (process.getuid!() === 0) t.is(native().getXattr(join(layer, 'var/cache'), 'trusted.overlay.opaque'), 'y');
  t.is(readFileSync(join(layer, 'var/cache/fresh'), 'utf8'), 'new');
  t.false(existsSync(join(layer, 'var/cache/.wh..wh..opq')));
  const escapingTar = join(s.dir, 'whx.tar');
  writeFileSync(escapingTar, tarOf([{ path: '../.wh.outside' }]));
  await t.throwsAsync(importImage(escapingTar, { store: s.store, name: 'whx' }), { instanceOf: SandboxError, message: /contains '\.\.'/ });
  t.is(readFileSync(s.outside, 'utf8'), 'untouched\n');
  removeTree(s.dir);
});
