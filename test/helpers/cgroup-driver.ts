// Exercises the cgroup driver against the real kernel and returns what it measured, so the same
// scenarios run in-process (ava) or in a child started in a scope of its own (cgroup v2 when the
// test runner's cgroup holds other processes) and print a JSON report.
// The sandboxed programs are plain python3 children: this is about the driver, not the launcher.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CgroupLimits, CgroupManager, CgroupUsage, SandboxCgroup } from '../../lib/cgroup/index.js';
import { parsePids } from '../../lib/cgroup/proc.js';
import { processStartTime, removeStale, SANDBOX_NAME, SUPERVISOR_NAME } from '../../lib/cgroup/stale.js';

export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const MiB = 1 << 20;

export interface RunReport {
  paths: string[];
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  usage: CgroupUsage;
  /** Milliseconds from kill() until every cgroup.procs was empty; null when it never emptied. */
  emptyAfterKillMs: number | null;
  /** The directories still present after destroy(). */
  leftAfterDestroy: string[];
}

export interface DriverReport {
  mode: string;
  parents: string[];
  pid: number;
  memory: RunReport;
  pids: RunReport & { forks: number };
  cpu: RunReport & { rusageUs: number; rusageUserUs: number; cpuUsageUs: number; midRunUs: number };
  quota: RunReport & { wallUs: number };
  stale: { removed: string[]; killedStaleTask: boolean; keptLive: boolean; keptForeign: boolean; removedSupervisor: boolean | null };
  /** sandbox-* names left in the parents by this process or by dead owners. */
  leftovers: string[];
}

/** Lines a child prints on stdout, as they come. */
class Lines {
  text = '';
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.text += chunk;
      this.#wake();
    });
    child.once('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  #wake() {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Line n (0-based), or null when the child exits before printing it. */
  async line(n: number): Promise<string | null> {
    for (;;) {
      const lines = this.text.split('\n');
      if (lines.length > n + 1) return lines[n]!;
      if (this.#closed) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

type Started = { child: ChildProcess; out: Lines; done: Promise<{ exitCode: number | null; signal: string | null }> };

/**
 * Start `python3 -c code`; code prints "ready" once started and then waits for a line on stdin. Only
 * then is its pid written into the cgroup and the line sent, so the cgroup counts exactly from the
 * moment the program proper starts (its start-up, slow under emulation, is not part of the figures).
 */
async function startInCgroup(cg: SandboxCgroup, code: string): Promise<Started> {
  const child = spawn(PYTHON, ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const out = new Lines(child);
  const done = new Promise<{ exitCode: number | null; signal: string | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal }));
  });
  const ready = await out.line(0);
  if (ready !== 'ready') throw new Error(`python3 did not start: ${JSON.stringify(out.text)} ${JSON.stringify(await done)}`);
  for (const file of cg.procsFiles) fs.writeFileSync(file, String(child.pid));
  child.stdin!.write('go\n');
  return { child, out, done };
}

export function cgroupPids(cg: SandboxCgroup): number[] {
  const pids: number[] = [];
  for (const file of cg.procsFiles) {
    try {
      pids.push(...parsePids(fs.readFileSync(file, 'utf8')));
    } catch {
      // Removed already.
    }
  }
  return pids;
}

async function killAndWait(cg: SandboxCgroup, timeoutMs = 10_000): Promise<number | null> {
  const start = performance.now();
  cg.kill();
  while (cgroupPids(cg).length > 0) {
    if (performance.now() - start > timeoutMs) return null;
    await new Promise((r) => setTimeout(r, 5));
  }
  return Math.round(performance.now() - start);
}

async function run(
  manager: CgroupManager,
  limits: CgroupLimits,
  code: string,
  during?: (cg: SandboxCgroup, started: Started) => Promise<void>,
): Promise<RunReport> {
  const cg = manager.create(limits);
  try {
    const started = await startInCgroup(cg, code);
    if (during) await during(cg, started);
    const result = await started.done;
    const usage = cg.usage();
    const emptyAfterKillMs = await killAndWait(cg);
    await cg.destroy();
    // Lines after "ready": what the program printed.
    const stdout = started.out.text.slice(started.out.text.indexOf('\n') + 1);
    return { paths: cg.paths, ...result, stdout, usage, emptyAfterKillMs, leftAfterDestroy: cg.paths.filter((p) => fs.existsSync(p)) };
  } catch (err) {
    cg.kill();
    await cg.destroy().catch(() => undefined);
    throw err;
  }
}

const HOLD = 'import sys, os, time, resource\nprint("ready", flush=True)\nsys.stdin.readline()\n';

async function memoryBomb(manager: CgroupManager): Promise<RunReport> {
  // Touch 200 MiB in 1 MiB pieces under a 64 MiB cap: the OOM killer must end it.
  const code = HOLD + 'a = []\nfor i in range(200):\n    a.append(b"x" * (1 << 20))\nprint("survived", flush=True)\n';
  return run(manager, { cpuQuota: null, memoryBytes: 64 * MiB, pids: 16 }, code);
}

async function forkLoop(manager: CgroupManager): Promise<RunReport & { forks: number }> {
  // Fork until refused (at most 100); each child sleeps. pids.max 16 = python itself + 15 children.
  const code =
    HOLD +
    'n = 0\nwhile n < 100:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n' +
    '    if pid == 0:\n        time.sleep(120)\n        os._exit(0)\n    n += 1\nprint(n, flush=True)\ntime.sleep(120)\n';
  let forks = -1;
  const report = await run(manager, { cpuQuota: null, memoryBytes: 64 * MiB, pids: 16 }, code, async (cg, { out }) => {
    forks = Number((await out.line(1)) ?? -1);
    cg.kill();
  });
  return { ...report, forks };
}

async function busyLoop(manager: CgroupManager, seconds: number) {
  // Burn `seconds` of CPU, then report its own rusage over exactly the time it spent in the cgroup
  // (the cgroup counts from the moment the pid was written; python waited blocked in readline).
  const code =
    HOLD +
    'r0 = resource.getrusage(resource.RUSAGE_SELF)\n' +
    `end = time.process_time() + ${seconds}\n` +
    'while time.process_time() < end:\n    for i in range(20000):\n        pass\n' +
    'r1 = resource.getrusage(resource.RUSAGE_SELF)\n' +
    'print(int((r1.ru_utime - r0.ru_utime) * 1e6), int((r1.ru_stime - r0.ru_stime) * 1e6), flush=True)\n' +
    'os._exit(0)\n';
  let midRunUs = -1;
  const report = await run(manager, { cpuQuota: null, memoryBytes: null, pids: null }, code, async (cg) => {
    await new Promise((r) => setTimeout(r, seconds * 300));
    midRunUs = cg.cpuUsageUs();
  });
  const [user, sys] = report.stdout.trim().split(/\s+/).map(Number) as [number, number];
  return { ...report, rusageUs: user + sys, rusageUserUs: user, cpuUsageUs: report.usage.userUs + report.usage.sysUs, midRunUs };
}

async function quotaLoop(manager: CgroupManager, cores: number, wallSeconds: number) {
  const code =
    HOLD +
    `t0 = time.monotonic()\nwhile time.monotonic() - t0 < ${wallSeconds}:\n    pass\n` +
    'print(int((time.monotonic() - t0) * 1e6), flush=True)\nos._exit(0)\n';
  const report = await run(manager, { cpuQuota: cores, memoryBytes: null, pids: null }, code);
  return { ...report, wallUs: Number(report.stdout.trim()) };
}

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid!;
}

/** Plant leftovers (a dead owner's cgroup with a task in it, a live one, a foreign name) and clean up. */
async function staleCleanup(manager: CgroupManager): Promise<DriverReport['stale']> {
  const dead = await deadPid();
  const deadName = `sandbox-${dead}-1-0`;
  const liveName = `sandbox-${process.pid}-${processStartTime('self')}-999999`;
  const foreignName = `sandbox-foreign-${process.pid}`;
  const supervisorName = `sandbox-supervisor-${dead}`;
  // Planted under a parent of this test's own: every other process's first start sweeps the real
  // parents, and would take a planted dead owner's cgroup from under this test.
  const privateName = `driver-stale-${process.pid}`;
  const parents = [...new Set(manager.parents)].map((p) => path.join(p, privateName));
  for (const p of parents) inheritCpuset(fs.mkdirSync(p) ?? p);
  for (const p of parents)
    for (const n of [deadName, liveName, foreignName]) inheritCpuset(fs.mkdirSync(path.join(p, n)) ?? path.join(p, n));
  const v2 = manager.mode === 'cgroup2';
  if (v2) fs.mkdirSync(path.join(parents[0]!, supervisorName));
  const sleeper = spawn('sleep', ['120'], { stdio: 'ignore' });
  await new Promise((resolve) => sleeper.once('spawn', resolve));
  const exited = new Promise((resolve) => sleeper.on('close', resolve));
  for (const p of parents) fs.writeFileSync(path.join(p, deadName, 'cgroup.procs'), String(sleeper.pid));
  let removed: string[] = [];
  try {
    removed = removeStale(parents, { supervisors: v2 });
    const killedStaleTask = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    return {
      removed: removed.map((d) => path.basename(d)),
      killedStaleTask,
      keptLive: parents.every((p) => fs.existsSync(path.join(p, liveName))),
      keptForeign: parents.every((p) => fs.existsSync(path.join(p, foreignName))),
      removedSupervisor: v2 ? !fs.existsSync(path.join(parents[0]!, supervisorName)) : null,
    };
  } finally {
    sleeper.kill('SIGKILL');
    for (const p of parents) {
      for (const n of [deadName, liveName, foreignName, supervisorName]) {
        try {
          fs.rmdirSync(path.join(p, n));
        } catch {
          // Already removed (or never made).
        }
      }
      fs.rmdirSync(p);
    }
  }
}

/** sandbox-* entries in the parents that are ours, or whose owner is gone. */
export function leftovers(parents: string[], ownerPid = process.pid): string[] {
  const found: string[] = [];
  for (const p of new Set(parents)) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(p);
    } catch {
      continue;
    }
    for (const name of names) {
      const sandbox = SANDBOX_NAME.exec(name);
      const supervisor = SUPERVISOR_NAME.exec(name);
      const owner = sandbox ? Number(sandbox[1]) : supervisor ? Number(supervisor[1]) : null;
      if (owner === null) continue;
      if (supervisor && owner === ownerPid && ownerPid === process.pid) continue; // our own leaf, we are in it
      let alive = true;
      try {
        process.kill(owner, 0);
      } catch {
        alive = false;
      }
      if (owner === ownerPid || !alive) found.push(path.join(p, name));
    }
  }
  return found;
}

export async function collectDriverReport(manager: CgroupManager, opts: { cpuSeconds?: number } = {}): Promise<DriverReport> {
  const memory = await memoryBomb(manager);
  const pids = await forkLoop(manager);
  const cpu = await busyLoop(manager, opts.cpuSeconds ?? 1);
  const quota = await quotaLoop(manager, 0.2, 1);
  const stale = await staleCleanup(manager);
  return {
    mode: manager.mode,
    parents: manager.parents,
    pid: process.pid,
    memory,
    pids,
    cpu,
    quota,
    stale,
    leftovers: leftovers(manager.parents),
  };
}

/**
 * A v1 cpuset cgroup starts with no CPUs and no memory nodes, and refuses tasks (ENOSPC) until it
 * has both: a planted one takes its parent's, as the runtime's own do (lib/cgroup/cpuset.ts).
 */
function inheritCpuset(dir: string): void {
  for (const file of ['cpuset.mems', 'cpuset.cpus']) {
    const own = path.join(dir, file);
    if (!fs.existsSync(own) || fs.readFileSync(own, 'utf8').trim() !== '') continue;
    fs.writeFileSync(own, fs.readFileSync(path.join(path.dirname(dir), file), 'utf8').trim());
  }
}
