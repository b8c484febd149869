#!/usr/bin/env node
// The requests a Hydro judge (hydrojudge) sends to go-judge, against `sandbox serve`: compile a
// C++ submission and cache the binary, run it on a test case, check the output, judge an
// interactive problem, then delete the cached file. Shapes after hydrojudge's sandbox client:
// HOME=/w, cpuLimit in ns with a clockLimit three times it, memory in bytes, stdout/stderr
// collectors, copyOutCached for the binary, pipeMapping for interaction.
//
//   node examples/hydro-like.mjs [URL]     (default http://127.0.0.1:5050; AUTH_TOKEN from the env)
// TIME_FACTOR (default 1) multiplies every time limit, for slow or emulated machines.
// Exits 0 when every verdict is the expected one, 1 otherwise.
const url = (process.argv[2] ?? 'http://127.0.0.1:5050').replace(/\/$/, '');
const headers = {
  'content-type': 'application/json',
  ...(process.env.AUTH_TOKEN ? { authorization: `Bearer ${process.env.AUTH_TOKEN}` } : {}),
};
const timeFactor = Number(process.env.TIME_FACTOR ?? 1);
if (!(timeFactor > 0)) throw new Error(`TIME_FACTOR must be a positive number, not ${process.env.TIME_FACTOR}`);

async function run(body) {
  const res = await fetch(`${url}/run`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`/run answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** hydrojudge's proc(): one command with its limits and stdio. */
function proc({ execute, time = 1000, memory = 256, stdin = { content: '' }, copyIn = {}, copyOut = [], copyOutCached = [] }) {
  return {
    args: execute,
    env: ['PATH=/usr/bin:/bin', 'HOME=/w'],
    files: [stdin, { name: 'stdout', max: 32 << 20 }, { name: 'stderr', max: 32 << 20 }],
    cpuLimit: Math.round(time * timeFactor * 1e6),
    clockLimit: Math.round(time * timeFactor * 3e6),
    memoryLimit: memory << 20,
    procLimit: 32,
    copyIn,
    copyOut: ['stdout', 'stderr', ...copyOut],
    copyOutCached,
  };
}

const SUBMISSION = `#include <cstdio>
int main() { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1; printf("%ld\\n", a + b); }
`;
// Guess a number in 1..1000: the judge answers "<", ">" or "=".
const SOLUTION = `#include <cstdio>
int main() { int lo = 1, hi = 1000; char r[4];
  for (;;) { int m = (lo + hi) / 2; printf("%d\\n", m); fflush(stdout);
    if (scanf("%3s", r) != 1) return 1; if (r[0] == '=') return 0; if (r[0] == '>') lo = m + 1; else hi = m - 1; } }
`;
const INTERACTOR = `#include <cstdio>
int main() { int secret = 613, g, n = 0;
  while (scanf("%d", &g) == 1) { ++n; if (g == secret) { printf("=\\n"); fflush(stdout); fprintf(stderr, "ok %d guesses\\n", n); return 0; }
    printf(g < secret ? ">\\n" : "<\\n"); fflush(stdout); if (n > 20) break; }
  fprintf(stderr, "wrong answer\\n"); return 1; }
`;

/** Prints one verdict; a result that is not the expected one is shown with its figures and error. */
const expect = (what, result, want) => {
  const ok = result.status === want;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${result.status}${ok ? '' : ` (expected ${want})`}`);
  if (ok) return;
  process.exitCode = 1;
  const ms = (ns) => `${(ns / 1e6).toFixed(0)} ms`;
  console.log(
    `     time ${ms(result.time)}, wall ${ms(result.runTime)}, exit ${result.exitStatus}${result.error ? `, error: ${result.error}` : ''}`,
  );
  if (result.files?.stderr) console.log(`     stderr: ${result.files.stderr.trim()}`);
};

async function compile(source, target) {
  const [r] = await run({
    cmd: [
      proc({
        execute: ['/usr/bin/g++', '-O2', '-o', target, 'main.cpp'],
        time: 10000,
        memory: 512,
        copyIn: { 'main.cpp': { content: source } },
        copyOutCached: [target],
      }),
    ],
  });
  expect(`compile ${target}`, r, 'Accepted');
  return r.status === 'Accepted' ? r.fileIds?.[target] : undefined;
}

const cached = [];
try {
  const bin = await compile(SUBMISSION, 'foo');
  if (bin === undefined) throw new Error('the submission did not compile: nothing to run');
  cached.push(bin);
  const [run1] = await run({ cmd: [proc({ execute: ['foo'], stdin: { content: '1 2\n' }, copyIn: { foo: { fileId: bin } } })] });
  expect('run test 1', run1, 'Accepted');
  const out = run1.files?.stdout;
  console.log(`${out === '3\n' ? 'ok  ' : 'FAIL'} output of test 1: ${JSON.stringify(out)}`);
  if (out !== '3\n') process.exitCode = 1;
  console.log(
    `     time ${(run1.time / 1e6).toFixed(2)} ms, memory ${(run1.memory / 1024).toFixed(0)} KiB, enforcement ${run1.sandbox?.enforcement}`,
  );
  const [check] = await run({
    cmd: [
      proc({
        execute: ['/usr/bin/diff', '-q', '-b', 'user_out', 'answer'],
        copyIn: { user_out: { content: run1.files.stdout }, answer: { content: '3\n' } },
      }),
    ],
  });
  expect('checker', check, 'Accepted');

  const [sol, judge] = [await compile(SOLUTION, 'sol'), await compile(INTERACTOR, 'interactor')];
  cached.push(sol, judge);
  if (sol === undefined || judge === undefined) throw new Error('the interactive problem did not compile: nothing to run');
  const both = await run({
    cmd: [
      // stdin and stdout are the pipes: only stderr is collected.
      {
        ...proc({ execute: ['sol'], copyIn: { sol: { fileId: sol } } }),
        files: [null, null, { name: 'stderr', max: 1024 }],
        copyOut: ['stderr'],
      },
      {
        ...proc({ execute: ['interactor'], copyIn: { interactor: { fileId: judge } } }),
        files: [null, null, { name: 'stderr', max: 1024 }],
        copyOut: ['stderr'],
      },
    ],
    pipeMapping: [
      { in: { index: 0, fd: 1 }, out: { index: 1, fd: 0 } },
      { in: { index: 1, fd: 1 }, out: { index: 0, fd: 0 } },
    ],
  });
  expect('interactive: solution', both[0], 'Accepted');
  expect('interactive: interactor', both[1], 'Accepted');
  console.log(`     interactor says: ${both[1].files?.stderr?.trim()}`);
} catch (e) {
  console.log(`FAIL ${e.message}`);
  process.exitCode = 1;
} finally {
  for (const id of cached.filter(Boolean)) await fetch(`${url}/file/${id}`, { method: 'DELETE', headers });
}
