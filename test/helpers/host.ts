// What the host sees of the sandboxes a test started: processes, fds and mounts, counted from
// /proc so that a leak shows up whatever the library believes about itself.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsPool } from '../../lib/netns-pool.js';

/** Whether this test process is root: the sandbox's ids then map to host id 65534 (lib/build-plan.ts). */
export const isRoot = process.getuid?.() === 0;

/** The host uid that owns what the sandbox creates on a rw bind. */
export const sandboxHostUid = isRoot ? 65534 : process.getuid!();

function pids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return fallback; // the process exited while we looked
  }
}

/** Host pids whose argv is exactly `argv` (compared NUL-joined, as /proc shows it). */
export function processesWithArgv(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  return pids().filter((pid) => readOr(`/proc/${pid}/cmdline`, '') === want);
}

/** Parent pid of `pid` from /proc/PID/stat (the comm field may hold spaces and parentheses). */
export function parentOf(pid: number): number | null {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  return Number(stat.slice(close + 2).split(' ')[1]);
}

/**
 * Live children of this process (zombies included: a zombie is a leak too). Under tsx, one is
 * esbuild's service process, there before any test: compare against a snapshot.
 */
export function childrenOfThisProcess(): number[] {
  return pids().filter((pid) => parentOf(pid) === process.pid);
}

/** Host pids of the children of `pid`. */
export function childrenOf(pid: number): number[] {
  return pids().filter((p) => parentOf(p) === pid);
}

/** A `Uid:` or `Gid:` line of /proc/PID/status: [real, effective, saved, fs]. */
export function idsOf(pid: number, which: 'Uid' | 'Gid'): number[] {
  const line = readOr(`/proc/${pid}/status`, '')
    .split('\n')
    .find((l) => l.startsWith(`${which}:`));
  return line === undefined ? [] : line.split(/\s+/).slice(1).filter(Boolean).map(Number);
}

/**
 * This process's open fds, less the network namespaces the pool holds (lib/netns-pool.ts): those
 * are kept on purpose, up to a bound. A namespace fd counts when there are more of them than the
 * pool owns (one being made may already be open, so its count is a bound, not an exact figure).
 */
export function openFdCount(): number {
  const home = readlinkSync('/proc/thread-self/ns/net');
  let other = 0;
  let namespaces = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let link = '';
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // closed since the listing (the listing's own fd among them)
    }
    if (link.startsWith('net:[') && link !== home) namespaces++;
    else if (link !== '') other++;
  }
  return other + Math.max(0, namespaces - netnsPool().stats().owned);
}

/** This process's fds and what they point to, for assertion messages. */
export function describeFds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}=${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return fd;
    }
  });
}

/** The host mount table of this process's mount namespace, one entry per line. */
export function mountTable(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns its last answer. */
export async function waitFor(check: () => boolean, timeoutMs: number, everyMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= end) return false;
    await sleep(everyMs);
  }
}

/**
 * A fresh directory under the system's temp dir. Mode 0755 by default: a root caller's sandbox
 * runs as host uid 65534, which must be able to reach what the test binds in.
 */
export function scratchDir(prefix: string, mode = 0o755): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `sandbox-${prefix}-`));
  chmodSync(path, mode);
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A number unlikely to appear in any other process's argv, for finding our own processes. */
export function uniqueSeconds(base: number): string {
  return `${base}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
}

export function text(b: Buffer | null): string {
  if (b === null) throw new Error('expected captured output, got null');
  return b.toString('utf8');
}

/** Snapshot of what a leak check compares. */
export interface HostSnapshot {
  fds: number;
  children: number[];
  mounts: string[];
}

export function snapshot(): HostSnapshot {
  return { fds: openFdCount(), children: childrenOfThisProcess(), mounts: mountTable() };
}

/**
 * Waits (up to `timeoutMs`) for fds and children to come back to `before` (no fd and no child
 * that was not there): stream handles close a tick after the result resolves. Returns the state
 * seen last, for the assertion message.
 */
export async function settle(before: HostSnapshot, timeoutMs = 5000): Promise<HostSnapshot> {
  let now = snapshot();
  await waitFor(() => {
    now = snapshot();
    return now.fds <= before.fds && now.children.every((pid) => before.children.includes(pid));
  }, timeoutMs);
  return now;
}
