// The limits scenarios of test/integration/limits.test.ts, run in a process of their own: on pure
// cgroup v2 the test runner's cgroup holds the runner too ("no internal processes"), so the test
// starts this script alone in a fresh scope. Prints one line of JSON.
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from '../../dist/lib/index.js';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

const many = Number(process.argv[2] ?? 200);

function sandboxCgroups() {
  const found = cgroupManager({});
  if (found.manager === null) return { mode: null, reason: found.reason, count: 0, files: cgroupFileFds() };
  let count = 0;
  for (const parent of found.manager.parents) {
    for (const name of fs.readdirSync(parent)) {
      // This process's own (sandbox-PID-START-N): other test files run sandboxes at the same time.
      if (new RegExp(`^sandbox-${process.pid}-\\d+-\\d+$`).test(name) && fs.statSync(path.join(parent, name)).isDirectory()) count++;
    }
  }
  return { mode: found.manager.mode, reason: null, count, files: cgroupFileFds() };
}

/** This process's fds open on cgroup files (a pool's cgroups made ahead hold their `tasks` files open). */
function cgroupFileFds() {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('/sys/fs/cgroup/')) n++;
    } catch {
      // closed meanwhile (readdir's own fd)
    }
  }
  return n;
}

const summary = (r) => ({
  ...r,
  stdout: r.stdout === null ? null : r.stdout.length,
  stdoutText: r.stdout?.toString('utf8', 0, 200) ?? null,
  stderr: r.stderr?.toString('utf8', 0, 300) ?? null,
});

// `limits-main.mjs busy`: alone in its process, before anything prepares the cgroup parent, a
// sandbox without limits, whose init sits in this process's cgroup while it runs. On v2 that
// keeps the controllers from being enabled there ("other processes are in it"): a limited run
// meanwhile falls back to rlimits; once it has ended, the next limited run gets its cgroup (the
// refusal is not remembered).
if (process.argv[2] === 'busy') {
  const early = new Sandbox().spawn(['sleep', '1'], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
  const during = (await new Sandbox({ pids: 64 }).run(['true'])).enforcement;
  await early.result;
  const after = (await new Sandbox({ pids: 64 }).run(['true'])).enforcement;
  console.log(JSON.stringify({ during, after, mode: sandboxCgroups().mode }));
  process.exit(0);
}

// The warm sandboxes are built first, before anything here prepares the cgroup parent: on cgroup v2
// their inits must not sit in the parent the limits need (the pool prepares it before starting them).
// Each run in a new cgroup of its own, so a small run after a memory bomb reports its own peak.
const warm = new Sandbox({ pool: 2, memory: '64m', pids: 64, timeLimit: 1, wallTimeLimit: 30 });
await warm.warm();
const out = { before: sandboxCgroups() };
const forkLoop =
  'import os,time\nn=0\ntry:\n  while n < 1000:\n    if os.fork() == 0:\n      time.sleep(3); os._exit(0)\n    n += 1\nexcept OSError:\n  pass\nprint(n)';
const lagStart = performance.now();
let lagMax = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  lagMax = Math.max(lagMax, now - lagStart - Math.round((now - lagStart) / 50) * 50);
}, 50);
out.forkbomb = summary(await new Sandbox({ pids: 64, wallTimeLimit: 20 }).run(['python3', '-c', forkLoop]));
clearInterval(ticker);
out.memory = summary(await new Sandbox({ memory: '64m' }).run(['python3', '-c', 'b = bytearray(200 * 1024 * 1024)\nprint(len(b))']));
// 48 MiB held for half a second: the anon/file split must see it (sampled while the command runs).
out.split = summary(
  await new Sandbox({ memory: '256m' }).run(['python3', '-c', 'import time\nb = bytearray(48 * 1024 * 1024)\ntime.sleep(0.5)']),
);
out.cpu = summary(await new Sandbox({ timeLimit: 1, wallTimeLimit: 30 }).run(['python3', '-c', 'while True: pass']));
out.output = summary(
  await new Sandbox({ outputLimit: '1m' }).run(['sh', '-c', 'while :; do echo yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy; done']),
);
const box = new Sandbox({ memory: '64m', pids: 32 });
let ok = 0;
for (let i = 0; i < many; i += 8) {
  const batch = await Promise.all(Array.from({ length: Math.min(8, many - i) }, () => box.run(['/bin/true'])));
  ok += batch.filter((r) => r.outcome === 'ok').length;
}
out.many = { runs: many, ok };
const ac = new AbortController();
const aborted = box.run(['sleep', '30'], { signal: ac.signal }).then(
  () => 'resolved',
  (e) => e.stage,
);
setTimeout(() => ac.abort(), 300);
out.aborted = await aborted;
// The same limits on the warm sandboxes built above. Only the busy loop runs under the pool's 1 s
// of CPU: in an emulated guest the memory bomb uses more (1.6-2.3 s under QEMU TCG), and on a busy
// host a guest task is charged for the time its virtual CPU waits for the host's (TCG has no steal
// time): /bin/true has been charged 160 ms there, and one of 24 did not end ok. The others get
// time limits of their own.
out.warm = {};
out.warm.memory = summary(await warm.run(['python3', '-c', 'b = bytearray(200 * 1024 * 1024)\nprint(len(b))'], { timeLimit: 30 }));
await warm.warm();
out.warm.small = summary(await warm.run(['true'], { timeLimit: 30 }));
out.warm.forkbomb = summary(await warm.run(['python3', '-c', forkLoop], { timeLimit: 30 }));
out.warm.cpu = summary(await warm.run(['python3', '-c', 'while True: pass']));
let warmOk = 0;
const warmOther = [];
for (let i = 0; i < many; i += 4) {
  const batch = await Promise.all(Array.from({ length: Math.min(4, many - i) }, () => warm.run(['/bin/true'], { timeLimit: 30 })));
  warmOk += batch.filter((r) => r.outcome === 'ok').length;
  warmOther.push(...batch.filter((r) => r.outcome !== 'ok').map((r) => `${r.outcome} cpu ${r.cpuTimeMs} ms`));
}
out.warm.many = { runs: many, ok: warmOk, other: warmOther };
await warm.close();
out.after = sandboxCgroups();
out.lagMaxMs = lagMax;
console.log(JSON.stringify(out));
