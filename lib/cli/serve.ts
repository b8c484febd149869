// `sandbox serve`: parses its options, starts the judge server, drains on SIGTERM/SIGINT.
import { availableParallelism } from 'node:os';
import { parseSeconds, parseSize } from '../units.js';
import { eachOption, integer, srcPrefixes, usageError } from './long-options.js';

export const SERVE_HELP = `Usage: sandbox serve [OPTIONS]

A judge server that speaks go-judge's REST API (POST /run, /file, /ws, /version, /config) and
/metrics. Reference: docs/serve.md.

      --http ADDR            listen on HOST:PORT (default 127.0.0.1:5050)
      --unix PATH            listen on a unix socket instead
      --exec [PATH]          instead of the judge API: serve this user's \`sandbox exec\`
                             commands (docs/cli-server.md; sandbox serve --exec --help)
      --parallelism N        requests run at once (default: the CPU count)
      --auth-token T         require "Authorization: Bearer T"
      --src-prefix DIR       host directory that src files may come from (repeatable,
                             or comma-separated); without it, src files are refused
      --dir DIR              keep the file store in DIR (default: in memory)
      --file-store-max SIZE  most bytes in the file store (default 1g)
      --file-ttl SEC         drop a stored file unused this long (default 3600; 0: never)
      --max-request-size SIZE largest request body (default 128m)
      --output-limit SIZE    most bytes a command writes to one file or stream (default 256m)
      --copy-out-max SIZE    copyOutMax of commands that give none (default 64m)
      --work-dir-size SIZE   as root, each command's /w is a tmpfs this large (default 512m)
      --cgroup-parent DIR    create the commands' cgroups under DIR (default: the server's own)
      --quiet                no per-request log lines on stderr
  -h, --help                 this text
`;

export interface ServeInvocation {
  help: boolean;
  http: string;
  unix: string | null;
  parallelism: number;
  authToken: string | null;
  srcPrefix: string[];
  dir: string | null;
  fileStoreMax: number;
  fileTtlMs: number;
  maxRequestBytes: number;
  outputLimit: number;
  copyOutMax: number;
  workDirSize: number;
  cgroupParent: string | null;
  quiet: boolean;
}

export function parseServeArgs(args: string[]): ServeInvocation {
  const inv: ServeInvocation = {
    help: false,
    http: '127.0.0.1:5050',
    unix: null,
    parallelism: availableParallelism(),
    authToken: null,
    srcPrefix: [],
    dir: null,
    fileStoreMax: 1024 ** 3,
    fileTtlMs: 3600_000,
    maxRequestBytes: 128 * 1024 ** 2,
    outputLimit: 256 * 1024 ** 2,
    copyOutMax: 64 * 1024 ** 2,
    workDirSize: 512 * 1024 ** 2,
    cgroupParent: null,
    quiet: false,
  };
  eachOption(args, 'serve', (name, value, arg) => {
    switch (name) {
      case '-h':
      case '--help':
        inv.help = true;
        break;
      case '--http':
        inv.http = value();
        break;
      case '--unix':
        inv.unix = value();
        break;
      case '--parallelism':
        inv.parallelism = integer(value(), name, 1, 1024);
        break;
      case '--auth-token':
        inv.authToken = value();
        if (inv.authToken === '') throw usageError('Expected a non-empty token for --auth-token');
        break;
      case '--src-prefix':
        inv.srcPrefix.push(...srcPrefixes(value()));
        break;
      case '--dir':
        inv.dir = value();
        break;
      case '--file-store-max':
        inv.fileStoreMax = parseSize(value(), '--file-store-max');
        break;
      case '--file-ttl':
        inv.fileTtlMs = Math.round(parseSeconds(value(), '--file-ttl') * 1000);
        break;
      case '--max-request-size':
        inv.maxRequestBytes = parseSize(value(), '--max-request-size');
        break;
      case '--output-limit':
        inv.outputLimit = parseSize(value(), '--output-limit');
        break;
      case '--copy-out-max':
        inv.copyOutMax = parseSize(value(), '--copy-out-max');
        break;
      case '--work-dir-size':
        inv.workDirSize = parseSize(value(), '--work-dir-size');
        break;
      case '--cgroup-parent':
        inv.cgroupParent = value();
        break;
      case '--quiet':
        inv.quiet = true;
        break;
      default:
        throw usageError(`unknown option ${JSON.stringify(arg)} for serve; see 'sandbox serve --help'`);
    }
  });
  return inv;
}

/** Runs the server until SIGTERM or SIGINT, then drains. Resolves with the exit status. */
export async function runServe(args: string[], version: string): Promise<number> {
  const inv = parseServeArgs(args);
  if (inv.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const [{ JobRunner }, { FileStore }, { JudgeServer, isLoopback, splitAddress }] = await Promise.all([
    import('../job/run-job.js'),
    import('../job/file-store.js'),
    import('../serve/server.js'),
  ]);
  const store = new FileStore({ dir: inv.dir, maxBytes: inv.fileStoreMax, ttlMs: inv.fileTtlMs });
  const runner = new JobRunner({
    store,
    parallelism: inv.parallelism,
    srcPrefix: inv.srcPrefix,
    outputLimit: inv.outputLimit,
    copyOutMax: inv.copyOutMax,
    workDirSize: inv.workDirSize,
    cgroupParent: inv.cgroupParent,
  });
  const server = new JudgeServer({
    runner,
    http: inv.http,
    unix: inv.unix,
    authToken: inv.authToken,
    maxRequestBytes: inv.maxRequestBytes,
    quiet: inv.quiet,
    version,
  });
  if (inv.unix === null && !isLoopback(splitAddress(inv.http).host) && inv.authToken === null) {
    process.stderr.write(
      `sandbox serve: listening beyond loopback (${inv.http}) without --auth-token: anyone who reaches it runs commands\n`,
    );
  }
  const address = await server.listen();
  process.stderr.write(`sandbox serve: listening on ${address}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.stderr.write(`sandbox serve: ${signal}: finishing running requests\n`);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.close();
  return 0;
}
