// Subordinate ids (/etc/subuid, /etc/subgid) let more than one id exist inside a rootless
// sandbox: newuidmap/newgidmap, setuid helpers from shadow's uidmap package, write the maps
// that an unprivileged process may not write itself (user_namespaces(7)).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { SandboxError } from './errors.js';

/** How many ids the sandbox gets: 0-65535 inside, like a container's. */
const WANTED = 65536;

export interface SubRange {
  start: number;
  count: number;
}

/** The first range of `file` ("name:start:count" or "uid:start:count" lines) owned by the caller. */
export function parseSubordinate(text: string, name: string, id: number): SubRange | null {
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner === undefined || start === undefined || count === undefined) continue;
    if (owner !== name && owner !== String(id)) continue;
    const r = { start: Number(start), count: Number(count) };
    if (Number.isSafeInteger(r.start) && Number.isSafeInteger(r.count) && r.count > 0) return r;
  }
  return null;
}

/**
 * Map lines "inside outside count": inside `inside` is the caller itself (so files it writes to
 * rw binds stay the caller's), the other ids up to 65535 come from the subordinate range.
 */
export function subordinateMap(inside: number, caller: number, range: SubRange): number[] {
  const below = Math.min(inside, range.count);
  const above = Math.min(WANTED - inside - 1, range.count - below);
  const map = [inside, caller, 1];
  if (below > 0) map.push(0, range.start, below);
  if (above > 0) map.push(inside + 1, range.start + below, above);
  return map;
}

export interface SubordinateMaps {
  uidArgs: string[];
  gidArgs: string[];
}

export function subordinateMaps(insideUid: number, insideGid: number): SubordinateMaps {
  const me = userInfo();
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const u = parseSubordinate(read('/etc/subuid'), me.username, me.uid);
  const g = parseSubordinate(read('/etc/subgid'), me.username, me.gid);
  if (u === null || g === null) {
    throw new SandboxError(
      `cannot map subordinate ids: no range for ${me.username} in ${u === null ? '/etc/subuid' : '/etc/subgid'} (run \`sandbox doctor\`)`,
      { stage: 'userns' },
    );
  }
  return { uidArgs: subordinateMap(insideUid, me.uid, u).map(String), gidArgs: subordinateMap(insideGid, me.gid, g).map(String) };
}

// child_process is loaded when a map is written, not with the library: 2 ms of every CLI start.
const require = createRequire(import.meta.url);

function run(helper: string, args: string[]): Promise<void> {
  const { execFile } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile(helper, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const why = String(stderr).trim().split('\n')[0] || err.message.split('\n')[0];
      reject(
        new SandboxError(`cannot map subordinate ids with ${helper}: ${why}`, {
          stage: 'userns',
          errno: typeof err.code === 'number' ? null : null,
          cause: err,
        }),
      );
    });
  });
}

/** Writes the init's maps with the setuid helpers. */
export async function writeSubordinateMaps(pid: number, maps: SubordinateMaps): Promise<void> {
  await Promise.all([run('newuidmap', [String(pid), ...maps.uidArgs]), run('newgidmap', [String(pid), ...maps.gidArgs])]);
}
