// The smoke scenarios of test/vm/smoke.test.ts, run in a process of their own so that on cgroup v2
// it can start alone in a fresh scope (vm-run-scope, systemd-run --scope), the way a user runs the
// sandbox. Prints one JSON line: the cgroup mode this process may use and a summary of each run.
// Plain JavaScript on the compiled library (dist/, npm run build:ts): through tsx, esbuild's service
// process would share the scope, and cgroup v2 enables controllers only in a cgroup with no other
// process in it.
import fs from 'node:fs';
import { Sandbox } from '../../dist/lib/index.js';
import { cgroupManager } from '../../dist/lib/cgroup/index.js';

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// Touches 200 MiB, one MiB at a time (bytes * n writes every page; bytearray(n) would not).
const MEMORY_HOG = "a = []\nfor i in range(200):\n    a.append(b'x' * (1 << 20))\nprint('survived')";
// Forks sleeping children until fork fails; prints how many it got.
const FORK_LOOP = [
  'import os, time',
  'n = 0',
  'try:',
  '    while n < 100:',
  '        if os.fork() == 0:',
  '            time.sleep(5)',
  '            os._exit(0)',
  '        n += 1',
  'except OSError as e:',
  '    print(n, e.errno)',
  'else:',
  '    print(n, 0)',
].join('\n');

/** @param {import('../../dist/lib/index.js').RunResult} r */
function summary(r) {
  return {
    outcome: r.outcome,
    exitCode: r.exitCode,
    signal: r.signal,
    enforcement: r.enforcement,
    memoryPeakBytes: r.memoryPeakBytes,
    sources: r.sources,
    wallTimeMs: r.wallTimeMs,
    stdout: r.stdout?.toString('utf8').slice(0, 2000) ?? null,
    stderr: r.stderr?.toString('utf8').slice(-2000) ?? null,
  };
}

const found = cgroupManager({});
const report = {
  arch: process.arch,
  uid: process.getuid?.() ?? -1,
  cgroup:
    found.manager === null
      ? { mode: null, code: found.code, reason: found.reason }
      : { mode: found.manager.mode, parents: found.manager.parents },
  runs: {
    true: summary(await new Sandbox().run(['/bin/true'])),
    echo: summary(await new Sandbox().run(['/bin/echo', 'hello', 'from', process.arch])),
    memory: summary(await new Sandbox({ memory: '64m' }).run([PYTHON, '-c', MEMORY_HOG])),
    pids: summary(await new Sandbox({ pids: 16 }).run([PYTHON, '-c', FORK_LOOP])),
  },
};
console.log(JSON.stringify(report));
