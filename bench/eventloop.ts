// Event-loop delay while 1,000 sandboxed runs go through (4 concurrent callers; on warm sandboxes 1 and 2 too), beside the same
// measure while 1,000 child_process.spawn runs go through (host scheduling noise shows in both;
// spawn's own uv_spawn blocks the loop until its child has exec'd, so it is no zero baseline).
// Also the time spawn() holds the caller's thread (clone, cgroup and pipe set-up), measured
// directly. Target 4 of bench/README.md.
import { execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Sandbox, type SandboxOptions } from '../lib/index.js';
import { isMain, ms, note, nowMs, percentile, ratio, row, runAlone, sleep, spawnToExit, type BenchOptions, type Row } from './common.js';
import { LIMITS } from './latency.js';

const CALLERS = 4;

interface Delay {
  p99: number;
  max: number;
  /** Timer samples taken: few samples mean the loop was too busy to run its timers. */
  samples: number;
  runs: number;
}

/** Event-loop delay while up to `n` runs go through (no new run starts after `deadline`). */
async function delayDuring(n: number, deadline: number, fn: () => Promise<unknown>, callers = CALLERS): Promise<Delay> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let started = 0;
  h.enable();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (started < n && nowMs() < deadline) {
        started++;
        await fn();
      }
    }),
  );
  h.disable();
  // The histogram records each interval of a 1 ms timer: the delay is what exceeds 1 ms.
  return { p99: Math.max(0, h.percentile(99) / 1e6 - 1), max: Math.max(0, h.max / 1e6 - 1), samples: h.count, runs: started };
}

function delayText(d: Delay, what: string): string {
  return `${what}${ms(d.p99)} (${d.runs} runs, ${d.samples} timer samples)`;
}

/** Event-loop delay of this process doing nothing for `seconds`: the host's own floor (vCPU preemption, timer slack). */
async function idleDelay(seconds: number): Promise<Delay> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await sleep(seconds * 1000);
  h.disable();
  return { p99: Math.max(0, h.percentile(99) / 1e6 - 1), max: Math.max(0, h.max / 1e6 - 1), samples: h.count, runs: 0 };
}

/**
 * Event-loop delay of this process, which launches nothing, while another process (load-driver.js)
 * runs up to `n` runs from `callers` callers on warm sandboxes: the delay the same load puts on any
 * loop of this machine. What a series here shows beyond it is this process's own work.
 */
async function delayUnderLoad(n: number, seconds: number, limits: boolean, callers = CALLERS): Promise<Delay> {
  const driver = fileURLToPath(new URL('./load-driver.js', import.meta.url));
  const args = [driver, String(callers), String(n), seconds.toFixed(1), ...(limits ? ['limits'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const lines = createInterface({ input: child.stdout! });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', () => reject(new Error('the load driver ended early')));
    });
  try {
    if ((await next()) !== 'ready') throw new Error('the load driver did not start');
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    child.stdin!.write('go\n');
    const done = (await next()).split(' ');
    h.disable();
    return { p99: Math.max(0, h.percentile(99) / 1e6 - 1), max: Math.max(0, h.max / 1e6 - 1), samples: h.count, runs: Number(done[1]) };
  } finally {
    lines.close();
    child.stdin!.end();
    await exited;
  }
}

/** A floor (delayUnderLoad) beside the same series measured here. */
function floorRow(figure: string, floor: Delay, here: Delay): Row {
  return row(
    figure,
    `${ms(floor.p99)} / ${ms(floor.max)} (${floor.runs} runs there)`,
    `the same here ${ms(here.p99)} / ${ms(here.max)}`,
    ratio(here.p99, floor.p99),
    '',
  );
}

/** Synchronous time of sandbox.spawn() (it returns once the run is sent: to a kept sandbox, or one cloned for it). */
async function syncLaunch(s: Sandbox, n: number, pipes: boolean): Promise<number[]> {
  const out: number[] = [];
  const io = pipes ? 'pipe' : 'ignore';
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const h = s.spawn(['/bin/true'], { stdin: 'ignore', stdout: io, stderr: io });
    out.push(nowMs() - t0);
    h.stdout?.resume();
    h.stderr?.resume();
    await h.result;
    await s.warm(); // a warm sandbox being reset: spawn() would not wait for it (run() does)
  }
  return out;
}

/** Sets the CPU affinity of this process's threads (all of them, or the loop's alone) with taskset(1). */
function pin(cpuList: string, allThreads: boolean): boolean {
  try {
    execFileSync('taskset', [...(allThreads ? ['-a'] : []), '-p', '-c', cpuList, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The 4-caller series on warm sandboxes with the loop's thread alone on CPU 0 and everything else (the
 * thread pool, the warm inits and the commands they fork) on the other CPUs: what is left is the
 * loop's own work per turn, without the commands competing for its CPU. null without taskset or a
 * second CPU.
 */
async function delayAlone(n: number, deadline: number, options: SandboxOptions): Promise<Delay | null> {
  const count = cpus().length;
  if (count < 2 || !pin(`1-${count - 1}`, true)) return null;
  // Made after the move: the warm inits are cloned from this thread and keep its affinity.
  const box = new Sandbox({ ...options, pool: CALLERS });
  try {
    await box.warm();
    if (!pin('0', false)) return null;
    return await delayDuring(n, deadline, () => box.run(['/bin/true']));
  } finally {
    await box.close();
    pin(`0-${count - 1}`, true);
  }
}

export async function eventloop(o: BenchOptions): Promise<Row[]> {
  const plain = new Sandbox({ idleTimeout: 0 });
  const limited = new Sandbox({ ...LIMITS, idleTimeout: 0 });
  // Warm sandboxes, one per caller.
  const warm = new Sandbox({ pool: CALLERS });
  const warmLimited = new Sandbox({ ...LIMITS, pool: CALLERS });
  await Promise.all([warm.warm(), warmLimited.warm()]);
  // 1,000 runs per series unless the budget runs out first (each series gets a sixth of it).
  const share = (o.budgetS * 1000) / 6;
  for (let i = 0; i < 10; i++) await plain.run(['/bin/true']);
  const n = 1000;
  const base = await delayDuring(n, nowMs() + share, () => spawnToExit(['/bin/true']));
  const sbx = await delayDuring(n, nowMs() + share, () => plain.run(['/bin/true']));
  const lim = await delayDuring(n, nowMs() + share, () => limited.run(['/bin/true']));
  const wrm = await delayDuring(n, nowMs() + share, () => warm.run(['/bin/true']));
  const wrmLim = await delayDuring(n, nowMs() + share, () => warmLimited.run(['/bin/true']));
  // The same on fewer callers: with 4 on 2 CPUs the sandboxes' own work competes with the loop's thread.
  const share2 = share / 4;
  const wrm1 = await delayDuring(n, nowMs() + share2, () => warm.run(['/bin/true']), 1);
  const wrm2 = await delayDuring(n, nowMs() + share2, () => warm.run(['/bin/true']), 2);
  const wrmLim1 = await delayDuring(n, nowMs() + share2, () => warmLimited.run(['/bin/true']), 1);
  const wrmLim2 = await delayDuring(n, nowMs() + share2, () => warmLimited.run(['/bin/true']), 2);
  const alone = await delayAlone(n, nowMs() + share2, {});
  const aloneLim = await delayAlone(n, nowMs() + share2, LIMITS);
  // The floors: this loop idle, then idle while another process puts the warm series' load on the CPUs.
  const idle = await idleDelay(Math.min(2, share2 / 1000));
  const floor = await delayUnderLoad(n, share2 / 1000, false);
  const floorLim = await delayUnderLoad(n, share2 / 1000, true);
  const floor1 = await delayUnderLoad(n, share2 / 1000, false, 1);
  const floorLim1 = await delayUnderLoad(n, share2 / 1000, true, 1);
  note(`eventloop: ${base.runs}/${sbx.runs}/${lim.runs} runs (spawn/built per run/limits)`);
  const m = Math.max(20, Math.min(200, Math.floor(sbx.runs / 4)));
  const syncPlain = await syncLaunch(plain, m, true);
  const syncQuiet = await syncLaunch(plain, m, false);
  const syncLim = await syncLaunch(limited, m, true);
  await warm.warm();
  const syncWarm = await syncLaunch(warm, m, true);
  await warmLimited.warm();
  const syncWarmLim = await syncLaunch(warmLimited, m, true);
  await Promise.all([warm.close(), warmLimited.close()]);
  return [
    row(
      `event-loop delay p99, ${CALLERS} callers, built per run`,
      delayText(sbx, ''),
      delayText(base, 'spawn '),
      ratio(sbx.p99, base.p99),
      '≤ 1 ms',
    ),
    row('event-loop delay max, built per run', ms(sbx.max), `spawn ${ms(base.max)}`, ratio(sbx.max, base.max), '≤ 1 ms'),
    row('event-loop delay p99, limits', delayText(lim, ''), `spawn ${ms(base.p99)}`, ratio(lim.p99, base.p99), '≤ 1 ms'),
    row('event-loop delay max, limits', ms(lim.max), `spawn ${ms(base.max)}`, ratio(lim.max, base.max), '≤ 1 ms'),
    row(
      `event-loop delay p99, ${CALLERS} callers, warm sandboxes (pool: ${CALLERS})`,
      delayText(wrm, ''),
      `spawn ${ms(base.p99)}`,
      ratio(wrm.p99, base.p99),
      '≤ 1 ms',
    ),
    row('event-loop delay max, warm sandboxes', ms(wrm.max), `spawn ${ms(base.max)}`, ratio(wrm.max, base.max), '≤ 1 ms'),
    row(
      'event-loop delay p99, warm sandboxes, 1 / 2 callers',
      `${ms(wrm1.p99)} / ${ms(wrm2.p99)} (${wrm1.runs} / ${wrm2.runs} runs)`,
      `4 callers ${ms(wrm.p99)}`,
      ratio(wrm2.p99, wrm.p99),
      '≤ 1 ms',
    ),
    row(
      'event-loop delay p99, warm sandboxes with limits',
      delayText(wrmLim, ''),
      `spawn ${ms(base.p99)}`,
      ratio(wrmLim.p99, base.p99),
      '≤ 1 ms',
    ),
    row('event-loop delay max, warm sandboxes with limits', ms(wrmLim.max), `spawn ${ms(base.max)}`, ratio(wrmLim.max, base.max), '≤ 1 ms'),
    row(
      'event-loop delay p99, warm sandboxes with limits, 1 / 2 callers',
      `${ms(wrmLim1.p99)} / ${ms(wrmLim2.p99)} (${wrmLim1.runs} / ${wrmLim2.runs} runs)`,
      `4 callers ${ms(wrmLim.p99)}`,
      ratio(wrmLim2.p99, wrmLim.p99),
      '≤ 1 ms',
    ),
    row(
      `diag: event-loop delay p99, ${CALLERS} callers, warm, the loop's thread alone on a CPU (taskset)`,
      alone === null || aloneLim === null
        ? 'missing (taskset or a second CPU)'
        : `${ms(alone.p99)}; with limits ${ms(aloneLim.p99)} (${alone.runs} / ${aloneLim.runs} runs)`,
      `sharing the CPUs ${ms(wrm.p99)}; with limits ${ms(wrmLim.p99)}`,
      alone === null ? '' : ratio(alone.p99, wrm.p99),
      '',
    ),
    row(
      'diag: event-loop delay p99 / max of this loop idle (no runs anywhere)',
      `${ms(idle.p99)} / ${ms(idle.max)} (${idle.samples} timer samples)`,
      '',
      '',
      '',
    ),
    floorRow(
      `diag: event-loop delay p99 / max of a loop that launches nothing, while another process runs ${CALLERS} callers on warm sandboxes`,
      floor,
      wrm,
    ),
    floorRow('diag: the same, warm sandboxes with limits', floorLim, wrmLim),
    row(
      'diag: the same floors at 1 caller, warm sandboxes / with limits',
      `${ms(floor1.p99)} / ${ms(floorLim1.p99)} (${floor1.runs} / ${floorLim1.runs} runs there)`,
      `the same here ${ms(wrm1.p99)} / ${ms(wrmLim1.p99)}`,
      ratio(wrmLim1.p99, floorLim1.p99),
      '',
    ),
    row(
      `diag: spawn() holds the caller's thread p50/p99, stdout+stderr pipes (n=${m})`,
      `${ms(percentile(syncPlain, 50))} / ${ms(percentile(syncPlain, 99))}`,
      `no pipes ${ms(percentile(syncQuiet, 50))} / ${ms(percentile(syncQuiet, 99))}`,
      ratio(percentile(syncPlain, 50), percentile(syncQuiet, 50)),
      '',
    ),
    row(
      "diag: spawn() holds the caller's thread p50/p99, warm sandbox, pipes",
      `${ms(percentile(syncWarm, 50))} / ${ms(percentile(syncWarm, 99))}`,
      `built per run ${ms(percentile(syncPlain, 50))} / ${ms(percentile(syncPlain, 99))}`,
      ratio(percentile(syncWarm, 50), percentile(syncPlain, 50)),
      '',
    ),
    row(
      "diag: spawn() holds the caller's thread p50/p99, warm sandbox with limits",
      `${ms(percentile(syncWarmLim, 50))} / ${ms(percentile(syncWarmLim, 99))}`,
      `warm ${ms(percentile(syncWarm, 50))} / ${ms(percentile(syncWarm, 99))}`,
      ratio(percentile(syncWarmLim, 50), percentile(syncWarm, 50)),
      '',
    ),
    row(
      "diag: spawn() holds the caller's thread p50/p99, limits",
      `${ms(percentile(syncLim, 50))} / ${ms(percentile(syncLim, 99))}`,
      `built per run ${ms(percentile(syncPlain, 50))} / ${ms(percentile(syncPlain, 99))}`,
      ratio(percentile(syncLim, 50), percentile(syncPlain, 50)),
      '',
    ),
  ];
}

if (isMain(import.meta.url)) await runAlone('eventloop', eventloop, Number(process.env.BENCH_BUDGET_S ?? 40));
