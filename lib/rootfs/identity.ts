// The files that give the command a consistent identity, as docker gives a container: an
// /etc/passwd and /etc/group entry for the id inside (so `whoami` and `id -un` answer), and
// /etc/hostname and /etc/hosts naming the sandbox's hostname.
//
// On the default root they are written into its tmpfs (MountOp.file). A rootfs directory is never
// written to: its own passwd and group are read, the sandbox's entry is added when its id has none,
// and the files are made in a private directory of this process before clone and bound read-only
// over the rootfs's (lib/build-plan.ts). Only over files the rootfs has: a missing one would need a mount
// point made in the rootfs's /etc, which the sandbox's ids may not write (a rootfs owned by root).
import { chmodSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A rootfs's passwd or group larger than this is not read, nor overlaid. */
const ETC_FILE_MAX = 1 << 20;

export interface IdentityFile {
  /** Path inside, e.g. /etc/passwd. */
  dst: string;
  data: string;
}

function passwdLine(uid: number, gid: number): string {
  return `sandbox:x:${uid}:${gid}:sandbox:/tmp:/bin/sh\n`;
}

/** The files for the default root, which has no /etc of its own. */
export function hostViewIdentity(uid: number, gid: number, hostname: string): IdentityFile[] {
  return [
    {
      dst: '/etc/passwd',
      data: `root:x:0:0:root:/root:/bin/sh\n${passwdLine(uid, gid)}nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    },
    { dst: '/etc/group', data: `root:x:0:\nsandbox:x:${gid}:\nnogroup:x:65534:\n` },
    ...hostFiles(hostname),
  ];
}

function hostFiles(hostname: string): IdentityFile[] {
  return [
    { dst: '/etc/hosts', data: `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n` },
    { dst: '/etc/hostname', data: `${hostname}\n` },
  ];
}

/**
 * The files for a rootfs directory: its passwd and group with an entry for the id inside added
 * when they have none (the rootfs's own name for the id is kept), hostname and hosts made anew.
 */
export function rootfsIdentity(rootfs: string, uid: number, gid: number, hostname: string): IdentityFile[] {
  const passwd = readInRootfs(rootfs, 'etc/passwd');
  const group = readInRootfs(rootfs, 'etc/group');
  const files = [
    { dst: '/etc/passwd', data: passwd === null ? '' : withEntry(passwd, 2, uid, passwdLine(uid, gid)) },
    { dst: '/etc/group', data: group === null ? '' : withEntry(group, 2, gid, `sandbox:x:${gid}:\n`) },
    ...hostFiles(hostname),
  ];
  return files.filter((f) => f.data !== '' && readInRootfs(rootfs, f.dst.slice(1)) !== null);
}

/** `text` with `line` appended unless some line already has `id` in field `field` (0-based). */
function withEntry(text: string, field: number, id: number, line: string): string {
  const has = text.split('\n').some((l) => l.split(':')[field] === String(id));
  if (has) return text;
  return (text === '' || text.endsWith('\n') ? text : `${text}\n`) + line;
}

/**
 * A small regular file of the rootfs, or null when there is none. Read only when it is no symlink
 * and resolves inside the rootfs: a symlink (etc/passwd → /etc/shadow) is resolved by the host
 * here, and must not show the host's files inside.
 */
function readInRootfs(rootfs: string, rel: string): string | null {
  try {
    const root = realpathSync.native(rootfs);
    const path = join(root, rel);
    const file = realpathSync.native(path);
    if (file !== path || !file.startsWith(`${root}/`)) return null;
    const st = lstatSync(file);
    if (!st.isFile() || st.size > ETC_FILE_MAX) return null;
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

let privateDir: string | null = null;

/**
 * A host path holding `data`, to be bound read-only inside. The files live in a directory this
 * process made (mkdtemp: a name no one else can have taken) and removes at exit; it is mode 0711 so
 * the sandbox's init, mapped to another host id when the caller is root, can reach the files, and
 * the files are named by their content, so one file serves every run that needs it.
 */
export function hostFileOf(data: string): string {
  if (privateDir === null) {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-etc-'));
    chmodSync(dir, 0o711);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    privateDir = dir;
  }
  const file = join(privateDir, createHash('sha256').update(data).digest('hex').slice(0, 32));
  try {
    writeFileSync(file, data, { mode: 0o644, flag: 'wx' });
    chmodSync(file, 0o644); // whatever the umask: the sandbox's host id reads it
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return file;
}
