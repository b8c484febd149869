// N sandboxes alive at once, each running `sleep 30`: host memory and this process's fds per idle
// sandbox, the init's own RSS; then all killed with SIGKILL and their results awaited (target 6
// of bench/README.md). N is 1,000 unless the machine (or the launch budget: the first sandbox's `sleep 30`
// must still be running when the last starts) allows fewer; the table says which.
import { readdirSync, readFileSync } from 'node:fs';
import { Sandbox, type SandboxProcess } from '../lib/index.js';
import { netnsPool } from '../lib/netns-pool.js';
import { isMain, ms, note, nowMs, row, runAlone, sleep, type BenchOptions, type Row } from './common.js';

function meminfo(): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const match = /^(\w+):\s+(\d+) kB/.exec(line);
    if (match) m.set(match[1]!, Number(match[2]) * 1024);
  }
  return m;
}

function openFds(): number {
  // Less the network namespaces the pool keeps on purpose (lib/netns-pool.ts, at most 64).
  return readdirSync('/proc/self/fd').length - netnsPool().stats().fds;
}

function statusKb(pid: number, key: string): number | null {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Has the init forked its command yet? (/proc/PID/task/PID/children, CONFIG_PROC_CHILDREN.) */
function hasChild(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

const mib = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;

export async function scale(o: BenchOptions): Promise<Row[]> {
  const want = Number(process.env.BENCH_SCALE_N ?? 1000);
  const sandbox = new Sandbox({ idleTimeout: 0 });
  // One run first, so lazily loaded state (addon, memfd of init, /dev/null fd) is in the baseline.
  await sandbox.run(['/bin/true']);
  const fds0 = openFds();
  const mem0 = meminfo();
  const rss0 = process.memoryUsage().rss;
  const handles: SandboxProcess[] = [];
  // Launching stops at 26 s, and the figures are taken by 29 s: the first `sleep 30` still runs.
  const launchBudgetMs = Math.min(26_000, o.budgetS * 1000 * 0.55);
  let stopped = '';
  const t0 = nowMs();
  while (handles.length < want) {
    if (nowMs() - t0 > launchBudgetMs) {
      stopped = `launch budget ${(launchBudgetMs / 1000).toFixed(0)} s spent`;
      break;
    }
    try {
      const h = sandbox.spawn(['sleep', '30'], { stdin: 'ignore' });
      h.result.catch(() => undefined);
      handles.push(h);
    } catch (e) {
      stopped = `launch ${handles.length + 1} failed: ${(e as Error).message}`;
      break;
    }
    // Let the event loop breathe every few launches (pidfd watchers, pipe reads).
    if (handles.length % 16 === 0) await sleep(0);
  }
  const launchMs = nowMs() - t0;
  const n = handles.length;
  // Wait until every init has forked its sleep (or until the first sleep is about to end).
  const waitUntil = Math.min(nowMs() + 15_000, t0 + 29_000);
  let ready = 0;
  while (nowMs() < waitUntil) {
    ready = handles.filter((h) => hasChild(h.pid)).length;
    if (ready === n) break;
    await sleep(100);
  }
  await sleep(Math.max(0, Math.min(300, t0 + 29_000 - nowMs())));
  const mem1 = meminfo();
  const fds1 = openFds();
  const rss1 = process.memoryUsage().rss;
  const avgKb = (key: string) => {
    const xs = handles.map((h) => statusKb(h.pid, key)).filter((x): x is number => x !== null);
    return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  };
  const initRss = avgKb('VmRSS');
  const initAnon = avgKb('RssAnon');
  const initShared = avgKb('RssFile') + avgKb('RssShmem');
  note(
    `scale: ${n} launched in ${(launchMs / 1000).toFixed(1)} s, ${ready} with their sleep running${stopped ? `; stopped: ${stopped}` : ''}`,
  );

  const k0 = nowMs();
  for (const h of handles) h.kill('SIGKILL');
  const results = await Promise.allSettled(handles.map((h) => h.result));
  const killMs = nowMs() - k0;
  const signaled = results.filter((r) => r.status === 'fulfilled' && r.value.signal === 'SIGKILL').length;
  const rejected = results.filter((r) => r.status === 'rejected').length;
  await sleep(200);
  const fds2 = openFds();

  const d = (k: string) => (mem0.get(k)! - mem1.get(k)!) / Math.max(1, n);
  const grew = (k: string) => (mem1.get(k)! - mem0.get(k)!) / Math.max(1, n);
  const label = n === want ? `${n}` : `${n} of ${want} (${stopped})`;
  return [
    row(`sandboxes alive at once (sleep 30)`, label, `${ready} with sleep running`, '', '1,000'),
    row('host memory per idle sandbox (MemAvailable Δ / N)', mib(d('MemAvailable')), '', '', 'printed'),
    row(
      'diag: kernel slab + page tables + kernel stacks per sandbox',
      kib(grew('Slab') + grew('PageTables') + grew('KernelStack')),
      `Slab ${kib(grew('Slab'))}`,
      '',
      '',
    ),
    row(
      'init RSS per sandbox (/proc/PID/status VmRSS)',
      `${initRss.toFixed(0)} KiB`,
      `RssAnon ${initAnon.toFixed(0)} KiB; shared file/memfd ${initShared.toFixed(0)} KiB`,
      '',
      'printed',
    ),
    row('Node RSS growth per idle sandbox', kib((rss1 - rss0) / Math.max(1, n)), '', '', ''),
    row('fds held by Node per idle sandbox', ((fds1 - fds0) / Math.max(1, n)).toFixed(2), `after kill: ${fds2 - fds0} left`, '', 'printed'),
    row(`launch rate while filling up to ${n}`, `${(n / (launchMs / 1000)).toFixed(0)}/s`, '', '', ''),
    row(`SIGKILL all ${n} and await results`, ms(killMs, 0), `${signaled} SIGKILL, ${rejected} rejected`, '', ''),
  ];
}

if (isMain(import.meta.url)) await runAlone('scale', scale, Number(process.env.BENCH_BUDGET_S ?? 60));
