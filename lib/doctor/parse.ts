// Pure parsers of the kernel's text interfaces. No I/O here. mountinfo and /proc/PID/cgroup are parsed
// by lib/cgroup/proc.ts, shared with the cgroup driver.

/** "Key:\tvalue" lines of /proc/PID/status. */
export function parseStatus(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/** Space-separated words of a cgroup list file (cgroup.controllers, cgroup.subtree_control). */
export function parseWords(text: string | null): string[] {
  return text === null ? [] : text.split(/\s+/).filter((w) => w !== '');
}

/** A sysctl file's integer value, or null when absent or not a number. */
export function parseIntFile(text: string | null): number | null {
  if (text === null) return null;
  const n = Number.parseInt(text.trim(), 10);
  return Number.isNaN(n) ? null : n;
}

export type Version = [number, number, number];

/** "6.1.0-50-amd64" → [6, 1, 0]; null when it does not start with a version. */
export function parseRelease(release: string): Version | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  return m === null ? null : [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function versionAtLeast(release: string, want: [number, number]): boolean | null {
  const v = parseRelease(release);
  if (v === null) return null;
  return v[0] !== want[0] ? v[0] > want[0] : v[1] >= want[1];
}

export interface SubidRange {
  start: number;
  count: number;
}

/** /etc/subuid and /etc/subgid (subuid(5)): "name-or-id:start:count"; the ranges that belong to the user. */
export function parseSubids(text: string | null, user: string | null, uid: number): SubidRange[] {
  if (text === null) return [];
  const out: SubidRange[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length !== 3 || line.trim().startsWith('#')) continue;
    if (f[0] !== user && f[0] !== String(uid)) continue;
    const start = Number(f[1]);
    const count = Number(f[2]);
    if (Number.isInteger(start) && Number.isInteger(count) && count > 0) out.push({ start, count });
  }
  return out;
}

/** The login name of `uid` in /etc/passwd, or null. */
export function passwdName(text: string | null, uid: number): string | null {
  if (text === null) return null;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[2] === String(uid)) return f[0];
  }
  return null;
}

/** The last non-empty line of a probe's stderr, the one that usually says what failed. */
export function lastLine(text: string): string | null {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.length === 0 ? null : lines[lines.length - 1];
}
