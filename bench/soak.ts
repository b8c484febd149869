// The soak: a mixed workload (a clean exit, a nonzero exit, SIGSEGV, background children, the CPU,
// wall-time, memory and output limits, a fork bomb under pids) run N times by several callers,
// on fresh sandboxes and on a warm pool, checking every outcome and printing what the host holds
// before and after each phase: fds, RSS, cgroups, mounts, network namespaces, child processes.
// A leak shows up as growth between the two columns; a wrong outcome is counted and the first
// few are printed.
//
//   npm run bench:soak -- --runs 10000 [--callers 4] [--pool 4]
import fs from 'node:fs';
import { cgroupManager } from '../lib/cgroup/index.js';
import { Sandbox, type RunOptions, type RunResult } from '../lib/index.js';
import { loadText, note, nowMs, perS, printTable, row, type Row } from './common.js';

interface Work {
  name: string;
  argv: string[];
  options: RunOptions;
  /** The outcomes accepted: with a cgroup, and under the rlimit fallback (no cgroup: rootless on v1). */
  expect: string[];
  expectRlimit?: string[];
  /** How many of each cycle of the mix. */
  weight: number;
}

// Background children and the fork bomb's sleepers outlive their command: init kills them when it ends.
const MIX: Work[] = [
  { name: 'ok', argv: ['true'], options: {}, expect: ['ok'], weight: 7 },
  { name: 'nonzero exit', argv: ['sh', '-c', 'exit 3'], options: {}, expect: ['nonzero-exit'], weight: 3 },
  { name: 'SIGSEGV', argv: ['sh', '-c', 'kill -SEGV $$'], options: {}, expect: ['signaled'], weight: 2 },
  { name: 'background children', argv: ['sh', '-c', 'sleep 100 & sleep 100 & echo started'], options: {}, expect: ['ok'], weight: 2 },
  { name: 'output limit', argv: ['yes'], options: { outputLimit: '64k' }, expect: ['output-limit'], weight: 2 },
  { name: 'wall-time limit', argv: ['sleep', '10'], options: { wallTimeLimit: 0.1 }, expect: ['wall-time-limit'], weight: 1 },
  {
    name: 'CPU-time limit',
    argv: ['sh', '-c', 'while :; do :; done'],
    options: { timeLimit: 0.1 },
    expect: ['cpu-time-limit'],
    weight: 1,
  },
  {
    name: 'memory limit',
    argv: ['sh', '-c', 'head -c 100000000 /dev/zero | tail -n 1 > /dev/null'],
    options: {},
    expect: ['memory-limit'],
    expectRlimit: ['nonzero-exit', 'signaled', 'memory-limit'],
    weight: 1,
  },
  {
    name: 'fork bomb',
    argv: ['sh', '-c', 'i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); done; wait'],
    options: {},
    expect: ['nonzero-exit'],
    weight: 1,
  },
];
const CONFIG = { memory: '64m', pids: 64, wallTimeLimit: 30 } as const;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} takes a positive integer`);
  return v;
}

interface Snapshot {
  fds: number;
  rssMiB: number;
  cgroups: number;
  mounts: number;
  netns: number;
  children: number;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return '';
  }
}

/** What the host holds for this process: fds, memory, cgroups, mounts, network namespaces, processes. */
function snapshot(parents: string[]): Snapshot {
  const links = fs.readdirSync('/proc/self/fd').map((f) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${f}`);
    } catch {
      return '';
    }
  });
  // Processes below this one (warm sandboxes' inits, running ones), by their parent pids.
  const parentOf = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOr(`/proc/${name}/stat`);
    parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const below = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) if (p === process.pid) return true;
    return false;
  };
  const descendants = [...parentOf.keys()].filter(below);
  // Network namespaces this process keeps alive: held by its fds (the pool's) or by a process below it.
  const netns = new Set(links.filter((l) => l.startsWith('net:[')));
  for (const pid of descendants) {
    try {
      netns.add(fs.readlinkSync(`/proc/${pid}/ns/net`));
    } catch {
      // exited meanwhile
    }
  }
  const children = descendants.filter((pid) => parentOf.get(pid) === process.pid).length;
  const own = `sandbox-${process.pid}-`;
  return {
    fds: links.filter((l) => l !== '' && !l.startsWith('net:[')).length,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    cgroups: parents.flatMap((p) => fs.readdirSync(p).filter((n) => n.startsWith(own))).length,
    mounts: readOr('/proc/self/mountinfo').split('\n').filter(Boolean).length,
    netns: netns.size,
    children,
  };
}

/**
 * Until what a burst leaves for a while has gone: cgroups being removed on the addon's lane, and the
 * network namespaces the pool keeps beyond its 2 ready ones (closed after 10 s without a run,
 * lib/netns-pool.ts). Snapshots taken after it compare like with like.
 */
const settle = () => new Promise((r) => setTimeout(r, 11_000));

interface PhaseResult {
  name: string;
  runs: number;
  seconds: number;
  wrong: Map<string, number>;
  errors: Map<string, number>;
  before: Snapshot;
  after: Snapshot;
}

async function phase(name: string, box: Sandbox, runs: number, callers: number, parents: string[]): Promise<PhaseResult> {
  const cycle = MIX.flatMap((w) => Array.from({ length: w.weight }, () => w));
  // A few runs of each kind first: the process's own fds (addon, lane, pools) are made by then.
  for (const w of MIX) await box.run(w.argv, w.options).catch(() => null);
  await settle();
  const before = snapshot(parents);
  const wrong = new Map<string, number>();
  const errors = new Map<string, number>();
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let next = 0;
  let done = 0;
  const started = nowMs();
  const caller = async () => {
    for (;;) {
      const i = next++;
      if (i >= runs) return;
      const w = cycle[i % cycle.length]!;
      let r: RunResult;
      try {
        r = await box.run(w.argv, w.options);
      } catch (e) {
        count(errors, `${w.name}: ${(e as Error).message}`);
        continue;
      }
      const accepted = r.enforcement === 'rlimit' && w.expectRlimit !== undefined ? w.expectRlimit : w.expect;
      if (!accepted.includes(r.outcome)) count(wrong, `${w.name}: ${r.outcome} (exit ${r.exitCode}, signal ${r.signal}, ${r.enforcement})`);
      if (++done % 1000 === 0) note(`${name}: ${done} of ${runs}`);
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  const seconds = (nowMs() - started) / 1000;
  await settle();
  return { name, runs, seconds, wrong, errors, before, after: snapshot(parents) };
}

const LABEL: Record<keyof Snapshot, string> = {
  fds: 'fds (less network namespaces)',
  rssMiB: 'RSS MiB',
  cgroups: 'cgroup directories of this process',
  mounts: "mounts in the host's namespace",
  netns: 'network namespaces held (fds, processes below)',
  children: 'child processes',
};

function rowsOf(p: PhaseResult, callers: number): Row[] {
  const rows = [row(`${p.name}: runs/s, ${p.runs} mixed runs, ${callers} callers`, perS(p.runs / p.seconds), '', '', '')];
  const wrongN = [...p.wrong.values()].reduce((a, b) => a + b, 0);
  const errorN = [...p.errors.values()].reduce((a, b) => a + b, 0);
  rows.push(row(`${p.name}: unexpected outcomes / setup errors`, `${wrongN} / ${errorN}`, '', '', '0 / 0'));
  const keys: (keyof Snapshot)[] = ['fds', 'rssMiB', 'cgroups', 'mounts', 'netns', 'children'];
  for (const k of keys) {
    const fmt = (x: number) => (k === 'rssMiB' ? x.toFixed(1) : String(x));
    rows.push(row(`${p.name}: ${LABEL[k]} after`, fmt(p.after[k]), `before ${fmt(p.before[k])}`, '', k === 'rssMiB' ? '' : 'no growth'));
  }
  return rows;
}

const runs = arg('runs', 10_000);
const callers = arg('callers', 4);
const poolSize = arg('pool', 4);
const parents = cgroupManager({}).manager?.parents ?? [];
const loadBefore = loadText();
note(`soak: ${runs} runs per phase, ${callers} callers, cgroups: ${parents.length > 0 ? 'yes' : 'no (rlimit fallback)'}`);
const fresh = await phase('fresh', new Sandbox({ ...CONFIG, idleTimeout: 0 }), runs, callers, parents);
const pool = new Sandbox({ ...CONFIG, pool: poolSize });
await pool.warm();
const warm = await phase(`pool: ${poolSize}`, pool, runs, callers, parents);
await pool.close();
printTable([...rowsOf(fresh, callers), ...rowsOf(warm, callers)], `soak (load average before: ${loadBefore}; after: ${loadText()})`);
for (const p of [fresh, warm]) {
  for (const [k, n] of [...p.wrong, ...p.errors].slice(0, 10)) console.log(`${p.name}: ${n} × ${k}`);
}
