// `sandbox worker`: takes `/run` jobs from a BullMQ queue in Redis (docs/queue.md), serves /metrics,
// logs one JSON line per event on stderr, drains on SIGTERM/SIGINT (a second one exits at once:
// the running jobs' sandboxes die with the process and their jobs are retried elsewhere).
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import { parseSeconds, parseSize } from '../units.js';
import { eachOption, integer, srcPrefixes, usageError } from './long-options.js';

export const WORKER_HELP = `Usage: sandbox worker --redis URL [OPTIONS]

Runs go-judge /run requests queued in Redis by SandboxQueue (BullMQ), many workers on many
machines sharing one queue. Reference: docs/queue.md.

      --redis URL             Redis to take jobs from, e.g. redis://10.0.0.5:6379/0 (required)
      --queue NAME            queue name (default sandbox)
      --prefix P              BullMQ key prefix (default bull)
      --concurrency N         jobs run at once (default: the CPU count)
      --image REF             image for commands that name none
      --src-prefix DIR        host directory that src files may come from (repeatable, or
                              comma-separated); without it, src files are refused
      --metrics ADDR          serve /metrics on [HOST:]PORT (HOST defaults to 127.0.0.1)
      --max-job-size SIZE     largest job taken (default 4m); larger ones fail at once
      --max-result-size SIZE  largest result returned (default 4m)
      --lock-duration SEC     a job's lock, renewed at half of it (default 30): how long a dead
                              worker's job waits before another worker takes it
      --stalled-interval SEC  how often to look for jobs of dead workers (default 30)
      --max-stalled N         times a job may lose its worker before it fails (default 1)
      --quiet                 no per-job log lines
  -h, --help                  this text
`;

export interface WorkerInvocation {
  help: boolean;
  redis: string | null;
  queue: string;
  prefix: string;
  concurrency: number;
  image: string | null;
  srcPrefix: string[];
  metrics: { host: string; port: number } | null;
  maxJobBytes: number;
  maxResultBytes: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalled: number;
  quiet: boolean;
}

/** `PORT` or `HOST:PORT` ([v6]:PORT), HOST 127.0.0.1 when left out. */
export function parseListen(v: string, name: string): { host: string; port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:]+)):)?(\d+)$/.exec(v);
  if (m === null || Number(m[3]) > 65535) throw usageError(`Expected [HOST:]PORT for ${name} but received ${JSON.stringify(v)}`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) };
}

export function parseWorkerArgs(args: string[]): WorkerInvocation {
  const inv: WorkerInvocation = {
    help: false,
    redis: null,
    queue: 'sandbox',
    prefix: 'bull',
    concurrency: availableParallelism(),
    image: null,
    srcPrefix: [],
    metrics: null,
    maxJobBytes: 4 * 1024 ** 2,
    maxResultBytes: 4 * 1024 ** 2,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    maxStalled: 1,
    quiet: false,
  };
  eachOption(args, 'worker', (name, value, arg) => {
    const ms = (): number => {
      const s = parseSeconds(value(), name);
      if (!(s > 0)) throw usageError(`Expected a positive number of seconds for ${name}`);
      return Math.round(s * 1000);
    };
    switch (name) {
      case '-h':
      case '--help':
        inv.help = true;
        break;
      case '--redis': {
        const v = value();
        if (!/^rediss?:\/\//.test(v))
          throw usageError(`Expected a redis:// or rediss:// URL for --redis but received ${JSON.stringify(v)}`);
        inv.redis = v;
        break;
      }
      case '--queue':
        inv.queue = value();
        if (!/^[\w.-]{1,128}$/.test(inv.queue))
          throw usageError(`Expected a queue name of letters, digits, '_', '.', '-' for --queue but received ${JSON.stringify(inv.queue)}`);
        break;
      case '--prefix':
        inv.prefix = value();
        if (!/^[\w.-]{1,64}$/.test(inv.prefix))
          throw usageError(`Expected a prefix of letters, digits, '_', '.', '-' for --prefix but received ${JSON.stringify(inv.prefix)}`);
        break;
      case '--concurrency':
        inv.concurrency = integer(value(), name, 1, 1024);
        break;
      case '--image':
        inv.image = value();
        if (inv.image === '') throw usageError('Expected an image reference for --image');
        break;
      case '--src-prefix':
        inv.srcPrefix.push(...srcPrefixes(value()));
        break;
      case '--metrics':
        inv.metrics = parseListen(value(), name);
        break;
      case '--max-job-size':
        inv.maxJobBytes = parseSize(value(), name);
        break;
      case '--max-result-size':
        inv.maxResultBytes = parseSize(value(), name);
        break;
      case '--lock-duration':
        inv.lockDurationMs = ms();
        break;
      case '--stalled-interval':
        inv.stalledIntervalMs = ms();
        break;
      case '--max-stalled':
        inv.maxStalled = integer(value(), name, 0, 1000);
        break;
      case '--quiet':
        inv.quiet = true;
        break;
      default:
        throw usageError(`unknown option ${JSON.stringify(arg)} for worker; see 'sandbox worker --help'`);
    }
  });
  if (!inv.help && inv.redis === null) throw usageError("--redis URL is required; see 'sandbox worker --help'");
  return inv;
}

/** A worker whose every job would fail on its --image (not in the store) is refused at start, not job by job. */
async function checkImage(image: string): Promise<void> {
  const { Sandbox } = await import('../sandbox.js');
  await new Sandbox({ image }).close();
}

/** Runs the worker until SIGTERM or SIGINT, then drains. Resolves with the exit status. */
export async function runWorker(args: string[]): Promise<number> {
  const inv = parseWorkerArgs(args);
  if (inv.help) {
    process.stdout.write(WORKER_HELP);
    return 0;
  }
  if (inv.image !== null) await checkImage(inv.image);
  const { SandboxWorker } = await import('../queue/worker.js');
  const log = (entry: Record<string, unknown>): void => {
    if (inv.quiet && entry.level === 'info' && String(entry.event).startsWith('job.')) return;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
  };
  const worker = new SandboxWorker({
    connection: inv.redis!,
    name: inv.queue,
    prefix: inv.prefix,
    concurrency: inv.concurrency,
    image: inv.image,
    srcPrefix: inv.srcPrefix,
    maxJobBytes: inv.maxJobBytes,
    maxResultBytes: inv.maxResultBytes,
    lockDuration: inv.lockDurationMs,
    stalledInterval: inv.stalledIntervalMs,
    maxStalledCount: inv.maxStalled,
    log,
  });
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    let first: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      if (first !== null) {
        log({
          level: 'warn',
          event: 'worker.abandon',
          signal,
          message: 'second signal: exiting now; running jobs are retried by other workers',
        });
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      }
      first = signal;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  const server =
    inv.metrics === null
      ? null
      : createServer((req, res) => {
          if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
            return;
          }
          worker.metricsText().then(
            (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
            (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
          );
        });
  if (server !== null) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(usageError(`cannot listen on ${inv.metrics!.host}:${inv.metrics!.port} for --metrics: ${e.message}`)),
      );
      server.listen(inv.metrics!.port, inv.metrics!.host, resolve);
    });
    const a = server.address() as { address: string; port: number };
    log({ level: 'info', event: 'metrics.listening', address: `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` });
  }
  await worker.start();
  const signal = await stopped;
  log({ level: 'info', event: 'worker.signal', signal });
  await worker.close();
  server?.close();
  return 0;
}
