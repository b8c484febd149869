// A real `sandbox serve` for tests: a JudgeServer on 127.0.0.1 on a free port, in this process.
import { JobRunner, type JobRunnerOptions } from '../../lib/job/run-job.js';
import { JudgeServer, type ServeOptions } from '../../lib/serve/server.js';

export interface TestServer {
  url: string;
  server: JudgeServer;
  /** POSTs `body` as JSON to /run: the status code and the parsed body. */
  run(body: unknown, init?: RequestInit): Promise<{ code: number; body: any }>;
  close(): Promise<void>;
}

export async function startServer(runner: JobRunnerOptions = {}, serve: Partial<ServeOptions> = {}): Promise<TestServer> {
  const server = new JudgeServer({ runner: new JobRunner({ parallelism: 2, ...runner }), http: '127.0.0.1:0', quiet: true, ...serve });
  const address = await server.listen();
  const url = `http://${address}`;
  return {
    url,
    server,
    async run(body, init = {}) {
      const res = await fetch(`${url}/run`, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
        ...(init.signal ? { signal: init.signal } : {}),
      });
      return { code: res.status, body: await res.json() };
    },
    close: () => server.close(),
  };
}

/** A command with go-judge's usual stdio: stdin `input`, stdout and stderr collected. */
export function cmd(args: string[], extra: Record<string, unknown> = {}, input = ''): Record<string, unknown> {
  return {
    args,
    env: ['PATH=/usr/bin:/bin'],
    files: [{ content: input }, { name: 'stdout', max: 1 << 20 }, { name: 'stderr', max: 1 << 16 }],
    cpuLimit: 5e9,
    memoryLimit: 512 << 20,
    procLimit: 64,
    copyOut: ['stdout', 'stderr'],
    ...extra,
  };
}
