// `pids` means the same with and without a pool: a python loop forking until EAGAIN under
// `pids: 32` counts its children, one-shot and on a warm sandbox. Prints one JSON line.
import { Sandbox } from '../../dist/lib/index.js';

const loop =
  'import os, signal\nn = 0\ntry:\n  while n < 1000:\n    if os.fork() == 0:\n      signal.pause(); os._exit(0)\n    n += 1\nexcept OSError:\n  pass\nprint(n)';
// A backstop, not a verdict (argv[2]: thirty pythons take long in an emulated guest).
const wallSeconds = Number(process.argv[2] ?? 60);
const count = async (box) => {
  const r = await box.run(['python3', '-c', loop], { wallTimeLimit: wallSeconds });
  return { outcome: r.outcome, children: Number(String(r.stdout).trim()), enforcement: r.enforcement, stderr: String(r.stderr) };
};
const pool = new Sandbox({ pids: 32, pool: 1 });
await pool.warm();
const out = { oneShot: await count(new Sandbox({ pids: 32 })), warm: await count(pool) };
// pids: 1 leaves room for the init alone, with a pool or without.
const one = async (box) =>
  box.run(['true']).then(
    (r) => r.outcome,
    (e) => `${e.name} ${e.stage}`,
  );
out.one = { oneShot: await one(new Sandbox({ pids: 1 })), warm: await one(new Sandbox({ pids: 1, pool: 1 })) };
await pool.close();
console.log(JSON.stringify(out));
