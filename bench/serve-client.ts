// The HTTP client of bench/serve.ts, on a thread of its own so that its work (undici's) is not
// counted as the server's: `callers` keep-alive loops of POST /run for `seconds`.
import { parentPort } from 'node:worker_threads';

interface Job {
  url: string;
  body: string;
  expect: string;
  callers: number;
  seconds: number;
}

parentPort!.on('message', async (job: Job) => {
  const samples: number[] = [];
  const start = performance.now();
  const end = start + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.callers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const res = await fetch(job.url, { method: 'POST', body: job.body, headers: { 'content-type': 'application/json' } });
        const out = ((await res.json()) as { files: { stdout: string } }[])[0]!.files.stdout;
        if (out !== job.expect) throw new Error(`unexpected output ${JSON.stringify(out)}`);
        samples.push(performance.now() - t0);
      }
    }),
  );
  parentPort!.postMessage({ samples, seconds: (performance.now() - start) / 1000 });
});
