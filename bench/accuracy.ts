// Accuracy of the figures an online judge trusts (bench/README.md, Targets): CPU time of a calibrated
// busy loop against the rusage of the same program spawned plainly, peak memory of a program that
// touches 100 MiB, and where the CPU-time, wall-time and CPU-quota limits stop a program. A small C
// program is compiled with cc into a temporary directory at bench time and bound into the sandbox.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox, type RunResult, type SandboxOptions } from '../lib/index.js';
import { isMain, ms, note, nowMs, percentile, ratio, row, runAlone, type BenchOptions, type Row } from './common.js';

// spin cpu MS     burn MS ms of this process's CPU (checked against CLOCK_PROCESS_CPUTIME_ID)
// spin forever    burn CPU until killed
// spin threads N MS   N threads burn CPU; the process exits after MS ms of wall time
// spin touch MIB  allocate MIB MiB and write every page
// biome-ignore lint/complexity/noUselessStringRaw: C source: an escape added to it must reach cc as written
const SPIN_C = String.raw`
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double cpu_ms(void) {
  struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static volatile unsigned long sink;
static void *burn(void *arg) { (void)arg; for (;;) sink++; return 0; }
int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "cpu")) {
    double until = atof(argv[2]);
    while (cpu_ms() < until) for (int i = 0; i < 100000; i++) sink++;
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "forever")) burn(0);
  if (argc >= 4 && !strcmp(argv[1], "threads")) {
    int n = atoi(argv[2]);
    pthread_t t;
    for (int i = 0; i < n; i++) pthread_create(&t, 0, burn, 0);
    usleep(atoi(argv[3]) * 1000);
    _exit(0);
  }
  if (argc >= 3 && !strcmp(argv[1], "touch")) {
    size_t len = (size_t)atol(argv[2]) << 20;
    char *p = malloc(len);
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
    sink = p[len - 1];
    return 0;
  }
  return 2;
}
`;

// rus PROG ARGS...  runs PROG plainly and prints "user_us sys_us maxrss_kb" from wait4's rusage.
const RUS_C = String.raw`
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  (void)argc;
  pid_t p = fork();
  if (p == 0) { execv(argv[1], argv + 1); _exit(127); }
  int st; struct rusage ru;
  wait4(p, &st, 0, &ru);
  printf("%ld %ld %ld\n", ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
         ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec, ru.ru_maxrss);
  return 0;
}
`;

interface Plain {
  cpuMs: number;
  maxRssBytes: number;
}

function plainRun(rus: string, argv: string[]): Promise<Plain> {
  return new Promise((resolve, reject) => {
    const c = spawn(rus, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', reject);
    c.once('close', () => {
      const [u, s, rss] = out.trim().split(' ').map(Number);
      resolve({ cpuMs: (u! + s!) / 1000, maxRssBytes: rss! * 1024 });
    });
  });
}

const median = (xs: number[]) => percentile(xs, 50);
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const tag = (r: RunResult, kind: 'cpu' | 'mem' | 'wall') =>
  kind === 'wall' ? `[${r.enforcement}]` : `[${r.enforcement} · ${kind === 'cpu' ? r.sources.cpuTime : r.sources.memoryPeak}]`;
/** Relative error of a against b, in %. */
const err = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;

export async function accuracy(o: BenchOptions): Promise<Row[]> {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-bench-'));
    // The sandbox's ids own nothing on the host (nobody, for a root caller): the programs must be world-readable.
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'spin.c'), SPIN_C);
    writeFileSync(join(dir, 'rus.c'), RUS_C);
    execFileSync('cc', ['-O1', '-pthread', '-o', join(dir, 'spin'), join(dir, 'spin.c')]);
    execFileSync('cc', ['-O1', '-o', join(dir, 'rus'), join(dir, 'rus.c')]);
  } catch (e) {
    return [row('accuracy', `missing: cannot compile the test program with cc (${(e as Error).message.split('\n')[0]})`)];
  }
  const rus = join(dir, 'rus');
  const hostSpin = join(dir, 'spin');
  const spin = '/bench/spin';
  const bind: SandboxOptions = { binds: [{ src: dir, dst: '/bench' }] };
  // A judge's configuration (cgroup accounting where available) and the defaults (rusage of the tree).
  const judged = new Sandbox({ ...bind, memory: '512m', pids: 64 });
  const plainSbx = new Sandbox(bind);
  const rows: Row[] = [];
  const reps = o.budgetS >= 40 ? 3 : 2;
  try {
    for (const cpuMs of [500, 2000]) {
      const base: number[] = [];
      const cg: RunResult[] = [];
      const dflt: RunResult[] = [];
      const n = cpuMs >= 2000 ? Math.min(2, reps) : reps;
      for (let i = 0; i < n; i++) {
        base.push((await plainRun(rus, [hostSpin, 'cpu', String(cpuMs)])).cpuMs);
        cg.push(await judged.run([spin, 'cpu', String(cpuMs)]));
        dflt.push(await plainSbx.run([spin, 'cpu', String(cpuMs)]));
      }
      const b = median(base);
      for (const [name, rs] of [
        ['memory 512m, pids 64', cg],
        ['defaults', dflt],
      ] as const) {
        const v = median(rs.map((r) => r.cpuTimeMs));
        rows.push(
          row(
            `cpuTimeMs, ${cpuMs} ms busy loop, ${name} ${tag(rs[0]!, 'cpu')} (median of ${n})`,
            ms(v, 1),
            `plain spawn rusage ${ms(b, 1)}`,
            err(v, b),
            'within ±2%',
          ),
        );
      }
    }

    const memBase = await plainRun(rus, [hostSpin, 'touch', '100']);
    const expected = 100 * 1048576;
    const memCg = await judged.run([spin, 'touch', '100']);
    const memDflt = await plainSbx.run([spin, 'touch', '100']);
    rows.push(
      row(
        `memoryPeakBytes, touch 100 MiB, memory 512m ${tag(memCg, 'mem')}`,
        mib(memCg.memoryPeakBytes),
        `100 MiB (plain maxrss ${mib(memBase.maxRssBytes)})`,
        err(memCg.memoryPeakBytes, expected),
        'within ±5%',
      ),
    );
    if (memCg.memoryAnonBytes !== null) {
      rows.push(
        row(
          '  of which anon / file (memory.stat, the largest sample while it ran)',
          `${mib(memCg.memoryAnonBytes)} / ${mib(memCg.memoryFileBytes ?? 0)}`,
          '',
          '',
          '',
        ),
      );
    }
    rows.push(
      row(
        `memoryPeakBytes, touch 100 MiB, defaults ${tag(memDflt, 'mem')}`,
        mib(memDflt.memoryPeakBytes),
        `100 MiB (plain maxrss ${mib(memBase.maxRssBytes)})`,
        err(memDflt.memoryPeakBytes, expected),
        'within ±5%',
      ),
    );

    const tl: RunResult[] = [];
    for (let i = 0; i < reps; i++) tl.push(await judged.run([spin, 'forever'], { timeLimit: 1 }));
    const tlMs = tl.map((r) => r.cpuTimeMs);
    rows.push(
      row(
        `timeLimit 1, endless loop: cpuTimeMs ${tag(tl[0]!, 'cpu')} (${reps} runs)`,
        `${ms(Math.min(...tlMs), 0)} – ${ms(Math.max(...tlMs), 0)}`,
        '1000 ms',
        ratio(Math.max(...tlMs), 1000),
        '[1000, 1100]',
      ),
    );
    rows.push(row('  outcome', [...new Set(tl.map((r) => r.outcome))].join(', '), '', '', 'cpu-time-limit'));

    const wl: { r: RunResult; awaited: number }[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = nowMs();
      const r = await judged.run(['sleep', '10'], { wallTimeLimit: 1 });
      wl.push({ r, awaited: nowMs() - t0 });
    }
    const wlMs = wl.map((x) => x.r.wallTimeMs);
    rows.push(
      row(
        `wallTimeLimit 1, sleep 10: wallTimeMs ${tag(wl[0]!.r, 'wall')} (${reps} runs)`,
        `${ms(Math.min(...wlMs), 0)} – ${ms(Math.max(...wlMs), 0)}`,
        '1000 ms',
        ratio(Math.max(...wlMs), 1000),
        '≤ 1100 ms',
      ),
    );
    rows.push(
      row(
        '  outcome; run() settled after',
        `${[...new Set(wl.map((x) => x.r.outcome))].join(', ')}; ${ms(Math.max(...wl.map((x) => x.awaited)), 0)}`,
        '',
        '',
        'wall-time-limit',
      ),
    );

    const quota = new Sandbox({ ...bind, cpuQuota: 0.5, pids: 64 });
    const q: RunResult[] = [];
    for (let i = 0; i < Math.min(2, reps); i++) q.push(await quota.run([spin, 'threads', '2', '2000']));
    const qMs = median(q.map((r) => r.cpuTimeMs));
    rows.push(
      row(`cpuQuota 0.5, 2 threads for 2 s wall: cpuTimeMs ${tag(q[0]!, 'cpu')}`, ms(qMs, 0), '1000 ms', err(qMs, 1000), '≈ 1000 ms'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  note('accuracy: done');
  return rows;
}

if (isMain(import.meta.url)) await runAlone('accuracy', accuracy, Number(process.env.BENCH_BUDGET_S ?? 60));
