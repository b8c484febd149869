// Started by faults.test.ts as a separate process: sandboxes with limits (one-shot runs and a warm
// pool's), each running `sleep 100`; prints one JSON line once they all run, then waits to be killed.
import { Sandbox } from '../../dist/lib/index.js';

const box = new Sandbox({ memory: '64m', pids: 16 });
const pool = new Sandbox({ memory: '64m', pids: 16, pool: 2 });
await pool.warm();
const runs = [box.spawn(['sleep', '100']), box.spawn(['sleep', '100']), pool.spawn(['sleep', '100'])];
await new Promise((r) => setTimeout(r, 300));
process.stdout.write(`${JSON.stringify({ pid: process.pid, inits: runs.map((r) => r.pid) })}\n`);
setInterval(() => {}, 1000);
