// The image's User → the ids the command runs as, resolved as docker (runc's libcontainer/user)
// resolves it: a name is looked up in the image's /etc/passwd (and a group name in /etc/group); a
// number need not be there; the group is the user's primary group from /etc/passwd, else 0; an
// empty User is root. HOME comes from the same /etc/passwd entry, else "/".
import { SandboxError } from '../errors.js';

export interface ImageUser {
  uid: number;
  gid: number;
  home: string;
}

/** Ids a user namespace can map: 0 to 2^32-2 (uid_t -1 is "no id"). */
const MAX_ID = 0xfffffffe;

interface Entry {
  name: string;
  id: number;
  gid: number;
  home: string;
}

/** `name:x:uid:gid:gecos:home:shell` (passwd) or `name:x:gid:members` (group); malformed lines skipped. */
function parseEntries(text: string, group: boolean): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < (group ? 3 : 7) || f[0] === '') continue;
    const id = numericId(f[2]!);
    const gid = group ? id : numericId(f[3]!);
    if (id === null || gid === null) continue;
    out.push({ name: f[0]!, id, gid, home: group ? '' : f[5]! });
  }
  return out;
}

function numericId(s: string): number | null {
  if (!/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= MAX_ID ? n : null;
}

/**
 * Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`, any mix) against the image's passwd and
 * group files (null when the image has none). Throws a SandboxError naming the image and the user
 * when a name is not there.
 */
export function resolveImageUser(user: string | null, passwd: string | null, group: string | null, image: string): ImageUser {
  const spec = user ?? '';
  const colon = spec.indexOf(':');
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? null : spec.slice(colon + 1);
  const users = passwd === null ? [] : parseEntries(passwd, false);
  const fail = (what: string) =>
    new SandboxError(`image ${JSON.stringify(image)}: cannot resolve its User ${JSON.stringify(spec)}: ${what}`, { stage: 'image' });

  let uid: number;
  let gid = 0;
  let home = '/';
  const byNumber = numericId(userPart === '' ? '0' : userPart);
  const entry = byNumber !== null ? users.find((e) => e.id === byNumber) : users.find((e) => e.name === userPart);
  if (byNumber !== null) {
    uid = byNumber;
  } else if (entry !== undefined) {
    uid = entry.id;
  } else {
    throw fail(`no user ${JSON.stringify(userPart)} in the image's /etc/passwd`);
  }
  if (entry !== undefined) {
    gid = entry.gid;
    home = entry.home === '' ? '/' : entry.home;
  }
  if (groupPart !== null && groupPart !== '') {
    const byGid = numericId(groupPart);
    if (byGid !== null) {
      gid = byGid;
    } else {
      const found = group === null ? undefined : parseEntries(group, true).find((e) => e.name === groupPart);
      if (found === undefined) throw fail(`no group ${JSON.stringify(groupPart)} in the image's /etc/group`);
      gid = found.id;
    }
  }
  return { uid, gid, home };
}
