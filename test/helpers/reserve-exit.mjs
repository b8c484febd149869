// A warm pool with limits that is never closed: the process ends on its own (idle warm sandboxes
// keep nothing alive), and the cgroups the pool made ahead of its runs must go with it
// (lib/cgroup/reserve.ts, at 'exit'). Prints one line of JSON: what it held before it ended.
import fs from 'node:fs';
import { Sandbox } from '../../dist/lib/index.js';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

const pool = new Sandbox({ pool: 2, memory: '64m', pids: 64 });
const r = await pool.run(['true']);
// The stock is refilled while the run goes on: wait until it is full again.
await new Promise((resolve) => setTimeout(resolve, 300));
const parents = cgroupManager({}).manager?.parents ?? [];
const own = new RegExp(`^sandbox-${process.pid}-\\d+-\\d+$`);
const held = parents.flatMap((p) => fs.readdirSync(p).filter((n) => own.test(n)));
console.log(JSON.stringify({ pid: process.pid, enforcement: r.enforcement, held: held.length, parents }));
