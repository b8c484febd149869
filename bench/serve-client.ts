// The HTTP client of bench/serve.ts, on a thread of its own so that its work is not counted as the
// server's: `callers` keep-alive loops of POST /run for `seconds`, with fetch (undici) or with
// node:http (a keep-alive agent, headers and body in one write, as superagent or axios send them).
import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';

interface Job {
  url: string;
  body: string;
  expect: string;
  callers: number;
  seconds: number;
  client: 'fetch' | 'http';
}

function viaFetch(job: Job): () => Promise<string> {
  return async () => {
    const res = await fetch(job.url, { method: 'POST', body: job.body, headers: { 'content-type': 'application/json' } });
    return ((await res.json()) as { files: { stdout: string } }[])[0]!.files.stdout;
  };
}

function viaHttp(job: Job): () => Promise<string> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.callers });
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(job.body) };
  return () =>
    new Promise((resolve, reject) => {
      const req = request(job.url, { method: 'POST', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve((JSON.parse(Buffer.concat(chunks).toString()) as { files: { stdout: string } }[])[0]!.files.stdout);
          } catch (e) {
            reject(e);
          }
        });
      });
      req.on('error', reject);
      req.end(job.body);
    });
}

parentPort!.on('message', async (job: Job) => {
  const post = job.client === 'fetch' ? viaFetch(job) : viaHttp(job);
  const samples: number[] = [];
  const start = performance.now();
  const end = start + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.callers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const out = await post();
        if (out !== job.expect) throw new Error(`unexpected output ${JSON.stringify(out)}`);
        samples.push(performance.now() - t0);
      }
    }),
  );
  parentPort!.postMessage({ samples, seconds: (performance.now() - start) / 1000 });
});
