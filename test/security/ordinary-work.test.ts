// The default seccomp filter and the dropped privileges must not break ordinary work: threads in
// Python, a C++ compiler run and the multi-threaded program it built, Node with worker threads.
// glibc's pthread_create tries clone3 first and falls back to clone when the filter answers
// ENOSYS; libuv tries io_uring and falls back when it gets EPERM. Each run also checks that the
// filter is installed, so a pass is not a run without it.
import test from 'ava';
import { Sandbox } from '../../lib/index.js';

const box = new Sandbox({ wallTimeLimit: 60 });

async function run(argv: string[], stdin?: string): Promise<string> {
  const r = await box.run(
    ['sh', '-c', 'grep "^Seccomp:" /proc/self/status; exec "$@"', 'sh', ...argv],
    stdin === undefined ? {} : { stdin },
  );
  const out = r.stdout?.toString() ?? '';
  if (r.outcome !== 'ok')
    throw new Error(`${argv.join(' ')}: ${r.outcome} exit ${r.exitCode} signal ${r.signal}\n${out}${r.stderr?.toString() ?? ''}`);
  if (!out.startsWith('Seccomp:\t2\n')) throw new Error(`the filter is not installed: ${out}`);
  return out.slice('Seccomp:\t2\n'.length);
}

test('python3 with threads', async (t) => {
  const script = [
    'import threading, queue',
    'q = queue.Queue()',
    'def work(n): q.put(sum(i * i for i in range(n)))',
    'ts = [threading.Thread(target=work, args=(10000 + k,)) for k in range(8)]',
    '[th.start() for th in ts]; [th.join() for th in ts]',
    'print(q.qsize(), threading.active_count())',
  ].join('\n');
  t.is(await run(['python3', '-c', script]), '8 1\n');
});

test('g++ compiles a multi-threaded C++ program into /tmp, and it runs', async (t) => {
  const source = `
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>
int main() {
  std::atomic<long> total{0};
  std::mutex m;
  std::vector<std::thread> ts;
  for (int k = 0; k < 8; k++) ts.emplace_back([&, k] {
    long s = 0;
    for (long i = 0; i < 100000; i++) s += i % (k + 2);
    std::lock_guard<std::mutex> g(m);
    total += s;
  });
  for (auto &th : ts) th.join();
  std::cout << ts.size() << " threads " << total << std::endl;
}`;
  // The expected sum, computed here the same way.
  let total = 0;
  for (let k = 0; k < 8; k++) for (let i = 0; i < 100000; i++) total += i % (k + 2);
  const out = await run(['sh', '-c', 'cat > /tmp/t.cc && g++ -O1 -pthread -o /tmp/t /tmp/t.cc && /tmp/t'], source);
  t.is(out, `8 threads ${total}\n`);
});

test('node with worker_threads', async (t) => {
  const script = `
const { Worker } = require('node:worker_threads');
const code = 'const { parentPort, workerData } = require("node:worker_threads"); let s = 0; for (let i = 0; i < 1e5; i++) s += i % workerData; parentPort.postMessage(s);';
Promise.all([2, 3, 4, 5].map((n) => new Promise((res, rej) => {
  const w = new Worker(code, { eval: true, workerData: n });
  w.on('message', res); w.on('error', rej);
}))).then((r) => console.log(r.length, r.reduce((a, b) => a + b)));`;
  let expect = 0;
  for (const n of [2, 3, 4, 5]) for (let i = 0; i < 1e5; i++) expect += i % n;
  t.is(await run(['node', '-e', script]), `4 ${expect}\n`);
});
