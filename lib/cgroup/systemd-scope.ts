// A delegated cgroup from the user's systemd, for an ordinary user whose own cgroup cannot hold
// the sandbox's cgroups (a login session's scope belongs to root; a shell, `timeout` or make share
// it). As podman and crun's systemd cgroup manager do, we ask the user manager for a transient
// scope with Delegate=yes holding this process, and only it (org.freedesktop.systemd1(5),
// StartTransientUnit; systemd.resource-control(5), Delegate=). The user manager moves us (asking
// PID 1 when the move crosses into its subtree from a session), the scope is ours to arrange, and
// it goes away when its last process is gone. No process we did not start is moved.
//
// busctl(1) makes the call: it ships with systemd wherever a user manager runs, and a D-Bus client
// of our own would be more code than the call. Once per process: the caller caches the result.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sleepSync } from './files.js';
import { parseProcCgroup } from './proc.js';

/** How long the move may take after the call returned (the scope's start job runs asynchronously). */
const MOVE_DEADLINE_MS = 3000;
const CALL_TIMEOUT_S = 10;

export type ScopeResult = { unit: string; cgroupPath: string; ms: number } | { unit: null; reason: string };

/** The user bus as sd_bus_open_user() finds it: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus. */
export function userBus(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = fs.existsSync): string | null {
  if (env.DBUS_SESSION_BUS_ADDRESS) return env.DBUS_SESSION_BUS_ADDRESS;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && exists(path.join(runtime, 'bus'))) return `unix:path=${path.join(runtime, 'bus')}`;
  return null;
}

/** The arguments of `busctl --user call` that start scope `unit` holding `pid`, delegated. */
export function startScopeArgs(unit: string, pid: number): string[] {
  return [
    '--user',
    `--timeout=${CALL_TIMEOUT_S}`,
    'call',
    'org.freedesktop.systemd1',
    '/org/freedesktop/systemd1',
    'org.freedesktop.systemd1.Manager',
    'StartTransientUnit',
    'ssa(sv)a(sa(sv))',
    unit,
    'fail',
    '4',
    'PIDs',
    'au',
    '1',
    String(pid),
    'Delegate',
    'b',
    'true',
    // Collected when it ends, failed or not: nothing named after a dead pid stays listed.
    'CollectMode',
    's',
    'inactive-or-failed',
    'Description',
    's',
    `sandbox cgroups of pid ${pid}`,
    '0',
  ];
}

function ownCgroupPath(): string | null {
  try {
    return parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')).find((e) => e.hierarchyId === 0)?.path ?? null;
  } catch {
    return null;
  }
}

/** Moves this process into a new delegated scope of the user's systemd. */
export function moveIntoUserScope(): ScopeResult {
  if (userBus() === null) {
    return {
      unit: null,
      reason: 'no user manager to ask for a delegated scope (neither $DBUS_SESSION_BUS_ADDRESS nor $XDG_RUNTIME_DIR/bus)',
    };
  }
  const start = performance.now();
  const unit = `sandbox-${process.pid}-${randomBytes(4).toString('hex')}.scope`;
  const call = spawnSync('busctl', startScopeArgs(unit, process.pid), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: (CALL_TIMEOUT_S + 2) * 1000,
  });
  if (call.error !== undefined) {
    const code = (call.error as NodeJS.ErrnoException).code;
    return {
      unit: null,
      reason: `cannot run busctl to ask the user manager for a delegated scope: ${code === 'ENOENT' ? 'busctl not found' : call.error.message}`,
    };
  }
  if (call.status !== 0) {
    const why = (call.stderr || call.stdout).trim().split('\n')[0] || `busctl exited with ${call.status ?? call.signal}`;
    return { unit: null, reason: `the user manager refused a delegated scope: ${why}` };
  }
  // The call returns once the start job is queued; the move follows it.
  const deadline = Date.now() + MOVE_DEADLINE_MS;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    const now = ownCgroupPath();
    if (now !== null && path.posix.basename(now) === unit) return { unit, cgroupPath: now, ms: performance.now() - start };
    if (Date.now() > deadline) return { unit: null, reason: `the user manager started ${unit} but did not move this process into it` };
    sleepSync(wait);
  }
}
