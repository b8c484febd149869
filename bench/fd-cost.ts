// The fds sandboxes hold in this process, counted in /proc/self/fd: the process's own (made by its
// first run), a warm pool of 1, 4 and 16 after warm(), with and without limits, and a run on a
// sandbox used once (idleTimeout: 0, so that no sandbox kept from an earlier run ends while the fds
// are counted). docs/faults.md gives the table this prints.
//
//   node dist/bench/fd-cost.js
import fs from 'node:fs';
import { Sandbox, type SandboxOptions } from '../lib/index.js';
import { printTable, row, type Row } from './common.js';

/** Open fds, less readdir's own and the network namespaces the pool keeps ready (lib/netns-pool.ts). */
function fds(): number {
  return fs.readdirSync('/proc/self/fd').filter((f) => {
    try {
      return !fs.readlinkSync(`/proc/self/fd/${f}`).startsWith('net:[');
    } catch {
      return false;
    }
  }).length;
}

const settle = () => new Promise((r) => setTimeout(r, 300));
const LIMITS: SandboxOptions = { memory: '64m', pids: 64 };
const rows: Row[] = [];
const start = fds();
await new Sandbox({ idleTimeout: 0 }).run(['true']);
await new Sandbox({ ...LIMITS, idleTimeout: 0 }).run(['true']);
await settle();
const base = fds();
rows.push(row("the process's own, after its first runs (addon, lane, /dev/null, sandbox-init memfd)", String(base - start)));
for (const [name, options] of [
  ['no limits', {}],
  ['memory + pids', LIMITS],
] as const) {
  for (const n of [1, 4, 16]) {
    const pool = new Sandbox({ ...options, pool: n });
    await pool.warm();
    await settle();
    rows.push(row(`pool: ${n}, ${name}, idle after warm()`, String(fds() - base)));
    await pool.close();
    await settle();
  }
}
for (const [name, options] of [
  ['no limits', { idleTimeout: 0 }],
  ['memory + pids', { ...LIMITS, idleTimeout: 0 }],
] as const) {
  const before = fds();
  const h = new Sandbox(options).spawn(['sleep', '1'], { stdout: 'ignore', stderr: 'ignore' });
  await settle();
  rows.push(row(`a run on a sandbox used once, ${name}, while it runs (stdio ignored)`, String(fds() - before)));
  await h.result;
  const before2 = fds();
  const h2 = new Sandbox(options).run(['sleep', '1']);
  await settle();
  rows.push(row(`a run on a sandbox used once, ${name}, while it runs (output captured)`, String(fds() - before2)));
  await h2;
}
printTable(rows, 'fd cost (counted in /proc/self/fd; network namespaces the pool keeps ready not counted)');
