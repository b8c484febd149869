// The default root: a read-only view of the host's programs and libraries, nothing else.
// /usr, /bin, /sbin and /lib* as the host has them (directories are bound read-only, merged-/usr
// symlinks are recreated), and the few /etc files programs need to start.
import { lstatSync, readlinkSync } from 'node:fs';
import { MountFlag, MountOp, type NativeMount } from '../native-plan.js';
import { hostPath } from './host-path.js';
import { hostViewIdentity } from './identity.js';

const TOP_LEVEL = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** /etc entries bound read-only when the host has them: the dynamic loader, time zone, TLS roots, name lookup. */
const ETC_FILES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'localtime',
  'alternatives',
  'ssl',
  'ca-certificates',
  'nsswitch.conf',
  'host.conf',
  'mime.types',
  'python3',
  'python3.11',
];

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
    ops.push({
      op: MountOp.bind,
      src: hostPath(`/etc/${name}`),
      dst: `/etc/${name}`,
      data: '',
      flags: MountFlag.readOnly | MountFlag.optional,
    });
  }
  cachedTop = ops;
  return ops;
}

export function hostViewMounts(uid: number, gid: number, hostname: string, network: 'none' | 'host'): NativeMount[] {
  const ops: NativeMount[] = [{ op: MountOp.rootTmpfs, src: '', dst: '/', data: '', flags: 0 }, ...topLevel()];
  // Written fresh, so the host's user list is not shown inside.
  for (const f of hostViewIdentity(uid, gid, hostname)) ops.push({ op: MountOp.file, src: '', dst: f.dst, data: f.data, flags: 0 });
  if (network === 'host') {
    ops.push({
      op: MountOp.bind,
      src: hostPath('/etc/resolv.conf'),
      dst: '/etc/resolv.conf',
      data: '',
      flags: MountFlag.readOnly | MountFlag.optional,
    });
  }
  return ops;
}
