// A process running sandboxes with limits is SIGKILLed; right after, a fresh process starts one
// sandbox WITHOUT limits and stays up a few seconds. The killed one's cgroups must be gone by then
// (its start swept them, retrying what was still busy). Prints one JSON line.
//
// On cgroup v2 this driver first takes a leaf of its own (cgroupManager() does, as
// sandbox-supervisor-<pid>), so that the processes it starts may enable controllers in the cgroup
// above: that is where the killed process's cgroups are made and where the fresh one looks.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const { manager } = cgroupManager();
const parents = manager?.parents ?? [];
const theirs = (pid) =>
  parents.flatMap((p) =>
    fs
      .readdirSync(p)
      .filter((n) => n.startsWith(`sandbox-${pid}-`))
      .map((n) => path.join(p, n)),
  );

const victim = spawn(process.execPath, [path.join(here, 'faults-parent-dies.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
const ready = await new Promise((resolve, reject) => {
  victim.stdout.once('data', (d) => resolve(JSON.parse(String(d))));
  victim.once('exit', (code) => reject(new Error(`faults-parent-dies.mjs exited ${code}`)));
});
const held = theirs(ready.pid).length;
victim.kill('SIGKILL');
const code = `
import { Sandbox } from ${JSON.stringify(new URL('../../dist/lib/index.js', import.meta.url).href)};
const r = await new Sandbox().run(['true']);
console.log(r.outcome);
setTimeout(() => {}, 3000);
`;
const fresh = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
fresh.stdout.on('data', (d) => (out += d));
await new Promise((resolve) => fresh.once('exit', resolve));
const inits = ready.inits.filter((pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
});
console.log(JSON.stringify({ cgroups: manager !== null, held, fresh: out.trim(), left: theirs(ready.pid), inits }));
