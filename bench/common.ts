// Shared helpers of the benchmarks: percentiles, the load average, baselines launched from Node,
// and the one table every benchmark prints (figure | value | baseline | ratio | target | load).
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  /** 1-minute load average when the figure was taken: figures under load are not absolute. */
  load: string;
}

/** Options every benchmark takes from run.ts (or its defaults when run alone). */
export interface BenchOptions {
  /** Seconds this benchmark may spend; each scales its iteration counts to fit. */
  budgetS: number;
}

export function row(figure: string, value: string, baseline = '', ratio = '', target = ''): Row {
  return { figure, value, baseline, ratio, target, load: load1() };
}

/**
 * A figure beside its baseline: both written with `fmt`, the baseline named, their ratio.
 * `row('p50', ms(a), `spawn ${ms(b)}`, ratio(a, b))` in one call.
 */
export function compare(figure: string, fmt: (x: number) => string, value: number, baseName: string, base: number, target = ''): Row {
  return row(figure, fmt(value), `${baseName} ${fmt(base)}`, ratio(value, base), target);
}

export function load1(): string {
  return loadavg()[0]!.toFixed(1);
}

export function loadText(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

/** The q-th percentile (0..100) of `xs`, nearest-rank. */
export function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((q / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export function ms(x: number, digits = 2): string {
  return Number.isFinite(x) ? `${x.toFixed(digits)} ms` : 'n/a';
}

export function perS(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(0)}/s` : 'n/a';
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '';
}

export function nowMs(): number {
  return performance.now();
}

export function sleep(msec: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msec));
}

/** `child_process.spawn(argv)` awaited to its exit. stdio ignored: the sandbox's run() captures, spawn's does not need to. */
export function spawnToExit(argv: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', (code) => resolve(code));
  });
}

export const BWRAP = '/usr/bin/bwrap';

/** The bubblewrap baseline: every namespace, the same read-only /usr view, /bin/true. */
export const BWRAP_TRUE = [
  BWRAP,
  '--unshare-all',
  '--die-with-parent',
  '--ro-bind',
  '/usr',
  '/usr',
  '--symlink',
  'usr/bin',
  '/bin',
  '--symlink',
  'usr/lib',
  '/lib',
  '--symlink',
  'usr/lib64',
  '/lib64',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '--tmpfs',
  '/tmp',
  '/bin/true',
];

let bwrapState: boolean | null = null;
/** bubblewrap is a baseline only when installed and working: the benchmarks install nothing. */
export async function haveBwrap(): Promise<boolean> {
  if (bwrapState !== null) return bwrapState;
  try {
    accessSync(BWRAP, fsConstants.X_OK);
    bwrapState = (await spawnToExit(BWRAP_TRUE)) === 0;
  } catch {
    bwrapState = false;
  }
  return bwrapState;
}

/**
 * CPU time of this process and of its reaped children (the sandboxes' whole trees, or spawn's
 * children) in ms, from /proc/self/stat (USER_HZ ticks: enough over a window of seconds). Less
 * sensitive to the machine's load than wall time; kernel work done in workers (a network
 * namespace's teardown) is not in it.
 */
export function cpuMs(): { self: number; children: number } {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const tick = 1000 / 100;
  return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}

/**
 * CPU time the whole machine spent busy (every process and kernel worker; /proc/stat), in ms. A
 * warm sandbox's runs are reaped by its own init, not by Node: their CPU shows here, not in
 * cpuMs().children.
 */
export function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return (total - idle) * (1000 / 100);
}

export interface Rate {
  perS: number;
  /** CPU per completed run: this process, and its children. */
  selfMs: number;
  childrenMs: number;
  /** CPU per completed run of the whole machine (machineBusyMs). */
  machineMs: number;
}

/** Runs `fn` from `callers` concurrent loops for `seconds`; returns completions per second. */
export async function throughput(fn: () => Promise<unknown>, callers: number, seconds: number): Promise<number> {
  return (await rate(fn, callers, seconds)).perS;
}

/** throughput() with the CPU spent per run. */
export async function rate(fn: () => Promise<unknown>, callers: number, seconds: number): Promise<Rate> {
  let done = 0;
  const cpu0 = cpuMs();
  const busy0 = machineBusyMs();
  const start = nowMs();
  const end = start + seconds * 1000;
  const loop = async () => {
    while (nowMs() < end) {
      await fn();
      done++;
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  const elapsed = (nowMs() - start) / 1000;
  const cpu1 = cpuMs();
  const busy1 = machineBusyMs();
  return {
    perS: done / elapsed,
    selfMs: (cpu1.self - cpu0.self) / done,
    childrenMs: (cpu1.children - cpu0.children) / done,
    machineMs: (busy1 - busy0) / done,
  };
}

export function printTable(rows: Row[], title?: string): void {
  const head: Row = { figure: 'figure', value: 'value', baseline: 'baseline', ratio: 'ratio', target: 'target', load: 'load' };
  const keys = Object.keys(head) as (keyof Row)[];
  const line = (r: Row) => `| ${keys.map((k) => r[k].replace(/\|/g, '\\|')).join(' | ')} |`;
  if (title !== undefined) console.log(`\n${title}\n`);
  console.log(line(head));
  console.log(`|${keys.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(line(r));
}

/** True when the module at `url` is the script node was started with (a benchmark run alone). */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(url) === process.argv[1];
}

/** Runs one benchmark alone: its own table, the machine and the load around it. */
export async function runAlone(name: string, bench: (o: BenchOptions) => Promise<Row[]>, budgetS: number): Promise<void> {
  const before = loadText();
  const rows = await bench({ budgetS });
  printTable(rows, `${name} (load average before: ${before}; after: ${loadText()})`);
}

/** Progress on stderr, so stdout is only the table. */
export function note(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}
