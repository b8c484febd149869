// `sandbox exec -- /bin/true` from a shell against `node -e 0` (Node's own start-up, the floor),
// interleaved, p50 of each: the `sandbox` bin (dist/lib/sandbox-cli.cjs, a loader starting the bundle from
// V8's code cache) and, as a
// diagnostic, the same CLI unbundled (dist/lib/cli/main.js: some 30 ES modules). Target 5 of
// bench/README.md.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain, ms, note, nowMs, percentile, row, runAlone, type BenchOptions, type Row } from './common.js';

const LIB = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
/** The `sandbox` bin, next to this file's dist/bench/. */
const CLI = join(LIB, 'sandbox-cli.cjs');
const UNBUNDLED = join(LIB, 'cli', 'main.js');

function timed(args: string[]): { msec: number; status: number | null } {
  const t0 = nowMs();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  return { msec: nowMs() - t0, status: r.status };
}

export async function cli(o: BenchOptions): Promise<Row[]> {
  const variants = { sandbox: [CLI, 'exec', '--', '/bin/true'], node: ['-e', '0'], unbundled: [UNBUNDLED, 'exec', '--', '/bin/true'] };
  const cliT: number[] = [];
  const nodeT: number[] = [];
  const unbundledT: number[] = [];
  timed(variants.node);
  const first = timed(variants.sandbox);
  if (first.status !== 0) return [row('sandbox exec -- /bin/true p50', `failed (exit ${first.status})`, '', '', '≤ node -e 0 + 15 ms')];
  const deadline = nowMs() + o.budgetS * 1000;
  for (let i = 0; i < 30 && (i < 10 || nowMs() < deadline); i++) {
    // Alternate which goes first, so neither always follows the other's page-cache warm-up.
    const order =
      i % 2 === 0 ? [variants.sandbox, variants.node, variants.unbundled] : [variants.unbundled, variants.node, variants.sandbox];
    for (const args of order) (args === variants.node ? nodeT : args === variants.sandbox ? cliT : unbundledT).push(timed(args).msec);
  }
  note(`cli: ${cliT.length} runs each`);
  const c = percentile(cliT, 50);
  const n = percentile(nodeT, 50);
  const u = percentile(unbundledT, 50);
  return [
    row(`sandbox exec -- /bin/true p50 (n=${cliT.length})`, ms(c, 1), `node -e 0 ${ms(n, 1)}`, `+${ms(c - n, 1)}`, '≤ +15 ms'),
    row('diag: the same, unbundled (dist/lib/cli/main.js)', ms(u, 1), `bundled ${ms(c, 1)}`, `+${ms(u - c, 1)}`, ''),
  ];
}

if (isMain(import.meta.url)) await runAlone('cli', cli, Number(process.env.BENCH_BUDGET_S ?? 30));
