// The `sandbox` command from a shell, as scripts and judges call it: hyperfine's median of
// `sandbox exec -- /bin/true` and `-- python3 -c pass` through the resident server
// (SANDBOX_SERVER=required) and without it (off: the Node CLI), beside bubblewrap with the same
// isolation (new user, pid, net, mount, ipc, uts namespaces; read-only /usr; proc; dev; tmpfs /tmp)
// in the same run; as root and as uid 65534 (setpriv, on every variant alike); and runs/s with two at a
// time (`seq N | xargs -P 2`). Needs hyperfine and bwrap (apt-get install hyperfine bubblewrap):
// without them the rows say "missing". docs/cli-server.md quotes its figures.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BWRAP_TRUE, isMain, ms, note, nowMs, perS, ratio, row, runAlone, type BenchOptions, type Row } from './common.js';

const LIB = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const CLIENT = join(LIB, 'sandbox');
const NODE_CLI = join(LIB, 'sandbox-cli.cjs');
const NOBODY = 65534;

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Starts `sandbox serve --exec` as uid; resolves with its socket and a stop function. */
async function startServer(uid: number | null): Promise<{ socket: string; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-bench-server-'));
  if (uid !== null) chownSync(dir, uid, uid);
  const socket = join(dir, 'server.sock');
  const child = spawn(process.execPath, [NODE_CLI, 'serve', '--exec', socket], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(uid === null ? {} : { uid, gid: uid }),
  });
  let text = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      text += s;
      if (text.includes('serving sandbox exec on')) resolve();
    });
    child.once('exit', () => reject(new Error(`sandbox serve --exec: ${text}`)));
  });
  return {
    socket,
    stop: () => {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** hyperfine's medians (ms) of the commands, run alternately in one invocation. */
function hyperfine(commands: string[][], runs: number): number[] {
  const out = join(mkdtempSync(join(tmpdir(), 'sandbox-bench-hf-')), 'out.json');
  const quoted = commands.map((c) => c.map((w) => (/^[\w./=:,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' '));
  const r = spawnSync('hyperfine', ['-N', '--warmup', '5', '--runs', String(runs), '--export-json', out, ...quoted], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`hyperfine failed (exit ${r.status})`);
  const json = JSON.parse(readFileSync(out, 'utf8')) as { results: { median: number }[] };
  rmSync(dirname(out), { recursive: true, force: true });
  return json.results.map((x) => x.median * 1000);
}

/** Runs/s of `seq n | xargs -P 2` over the command. */
function pairRate(command: string[], n: number): number {
  const words = command.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const t0 = nowMs();
  const r = spawnSync('sh', ['-c', `seq ${n} | xargs -P 2 -I{} ${words}`], { stdio: 'ignore' });
  const dt = nowMs() - t0;
  return r.status === 0 ? (n * 1000) / dt : Number.NaN;
}

export async function cliServer(o: BenchOptions): Promise<Row[]> {
  if (!have('hyperfine') || !have('bwrap')) {
    return [row('sandbox exec through the server, p50', 'missing (apt-get install hyperfine bubblewrap)')];
  }
  const runs = Math.max(20, Math.min(100, Math.round(o.budgetS * 2)));
  const rows: Row[] = [];
  for (const uid of [null, NOBODY]) {
    const who = uid === null ? 'root' : 'rootless';
    const as = uid === null ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
    const server = await startServer(uid);
    try {
      const env = (mode: string) => [...as, 'env', `SANDBOX_SERVER=${mode}`, `SANDBOX_SOCKET=${server.socket}`];
      const sandbox = (mode: string, cmd: string[]) => [...env(mode), CLIENT, 'exec', '--', ...cmd];
      const bwrap = (cmd: string[]) => [...env('off'), ...BWRAP_TRUE.slice(0, -1), ...cmd];
      for (const cmd of [['/bin/true'], ['python3', '-c', 'pass']]) {
        const label = cmd.join(' ');
        note(`cli-server: ${who}, ${label}, ${runs} runs each`);
        // Today's bin without the client: the Node CLI started directly, the floor for "no server".
        const nodeCli = [...env('off'), process.execPath, NODE_CLI, 'exec', '--', ...cmd];
        const [viaServer, bw, off, direct] = hyperfine([sandbox('required', cmd), bwrap(cmd), sandbox('off', cmd), nodeCli], runs);
        rows.push(
          row(`${who}: sandbox exec -- ${label}, server, p50`, ms(viaServer!, 1), `bwrap ${ms(bw!, 1)}`, ratio(viaServer!, bw!), '≤ bwrap'),
          row(
            `${who}: sandbox exec -- ${label}, SANDBOX_SERVER=off, p50`,
            ms(off!, 1),
            `node sandbox-cli.cjs ${ms(direct!, 1)}`,
            ratio(off!, direct!),
            '≈ 1×',
          ),
          row(`${who}: diag: node sandbox-cli.cjs exec -- ${label}, p50`, ms(direct!, 1), `bwrap ${ms(bw!, 1)}`, ratio(direct!, bw!), ''),
        );
      }
      note(`cli-server: ${who}, xargs -P 2`);
      const n = Math.max(50, runs * 2);
      const s = pairRate(sandbox('required', ['/bin/true']), n);
      const b = pairRate(bwrap(['/bin/true']), n);
      const f = pairRate(sandbox('off', ['/bin/true']), Math.max(20, Math.round(n / 5)));
      rows.push(
        row(`${who}: xargs -P 2 sandbox exec -- /bin/true, server`, perS(s), `bwrap ${perS(b)}`, ratio(s, b), '≥ 2× bwrap'),
        row(`${who}: xargs -P 2 sandbox exec -- /bin/true, no server`, perS(f), `bwrap ${perS(b)}`, ratio(f, b), ''),
      );
    } finally {
      server.stop();
    }
  }
  return rows;
}

if (isMain(import.meta.url)) await runAlone('cli-server', cliServer, Number(process.env.BENCH_BUDGET_S ?? 30));
