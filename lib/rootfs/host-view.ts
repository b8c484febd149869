// The default root: a read-only view of the host's programs and libraries, nothing else.
// /usr, /bin, /sbin and /lib* as the host has them (directories are bound read-only, merged-/usr
// symlinks are recreated), and the few /etc files programs need to start.
import { lstatSync, readlinkSync } from 'node:fs';
import { MountFlag, MountOp, type NativeMount } from '../native-plan.js';
import { hostPath } from './host-path.js';

const TOP_LEVEL = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** /etc entries bound read-only when the host has them: the dynamic loader, time zone, TLS roots, name lookup. */
const ETC_FILES = [
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime', 'alternatives', 'ssl', 'ca-certificates',
  'nsswitch.conf', 'host.conf', 'mime.types', 'python3', 'python3.11',
];

/** Identity files written fresh, so the host's user list is not shown inside. */
function identityFiles(uid: number, gid: number, hostname: string): NativeMount[] {
  const passwd = `root:x:0:0:root:/root:/bin/sh\nsandbox:x:${uid}:${gid}:sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
  const group = `root:x:0:\nsandbox:x:${gid}:\nnogroup:x:65534:\n`;
  const hosts = `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
  return [
    { op: MountOp.file, src: '', dst: '/etc/passwd', data: passwd, flags: 0 },
    { op: MountOp.file, src: '', dst: '/etc/group', data: group, flags: 0 },
    { op: MountOp.file, src: '', dst: '/etc/hosts', data: hosts, flags: 0 },
    { op: MountOp.file, src: '', dst: '/etc/hostname', data: `${hostname}\n`, flags: 0 },
  ];
}

let cachedTop: NativeMount[] | null = null;

/** The top-level entries, read once: the host's layout does not change under a running process. */
function topLevel(): NativeMount[] {
  if (cachedTop !== null) return cachedTop;
  const ops: NativeMount[] = [];
  for (const name of TOP_LEVEL) {
    let st;
    try {
      st = lstatSync(`/${name}`);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) {
      ops.push({ op: MountOp.symlink, src: readlinkSync(`/${name}`), dst: `/${name}`, data: '', flags: 0 });
    } else if (st.isDirectory()) {
      ops.push({ op: MountOp.bind, src: `/${name}`, dst: `/${name}`, data: '', flags: MountFlag.readOnly });
    }
  }
  for (const name of ETC_FILES) {
    ops.push({ op: MountOp.bind, src: hostPath(`/etc/${name}`), dst: `/etc/${name}`, data: '', flags: MountFlag.readOnly | MountFlag.optional });
  }
  cachedTop = ops;
  return ops;
}

export function hostViewMounts(uid: number, gid: number, hostname: string, network: 'none' | 'host'): NativeMount[] {
  const ops: NativeMount[] = [{ op: MountOp.rootTmpfs, src: '', dst: '/', data: '', flags: 0 }, ...topLevel()];
  ops.push(...identityFiles(uid, gid, hostname));
  if (network === 'host') {
    ops.push({ op: MountOp.bind, src: hostPath('/etc/resolv.conf'), dst: '/etc/resolv.conf', data: '', flags: MountFlag.readOnly | MountFlag.optional });
  }
  return ops;
}
