// A smoke test of the whole sandbox, for the VMs (test/vm/run.sh): /bin/true, echo, a memory limit
// and a pids limit through `new Sandbox(...)`. In a guest of test/vm/run.sh (VM_GUEST=1) the limits
// must be enforced with cgroup v2, as root and as the delegated user; elsewhere with whatever the
// process may use (cgroup1 as root here, the rlimit fallback rootless).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { runCaptured, scopePrefix } from '../helpers/scoped.js';

const MiB = 1 << 20;
const projectRoot = path.resolve(import.meta.dirname, '../..');
const main = path.join(projectRoot, 'test/vm/smoke-main.mjs');
const inGuest = process.env['VM_GUEST'] === '1';

interface RunSummary {
  outcome: string;
  exitCode: number | null;
  signal: string | null;
  enforcement: string;
  memoryPeakBytes: number;
  sources: { cpuTime: string; memoryPeak: string };
  wallTimeMs: number;
  stdout: string | null;
  stderr: string | null;
}
interface Report {
  arch: string;
  uid: number;
  cgroup: { mode: string | null; code?: string; reason?: string; parents?: string[] };
  runs: { true: RunSummary; echo: RunSummary; memory: RunSummary; pids: RunSummary };
}

let report: Report;

test.before(async () => {
  if (!fs.existsSync(path.join(projectRoot, 'dist/lib/index.js'))) throw new Error('dist/lib is missing: npm run build:ts');
  const argv = [...scopePrefix(), process.execPath, main];
  const out = await runCaptured(argv, { cwd: projectRoot });
  const line = out.stdout.trim().split('\n').pop() ?? '';
  try {
    report = JSON.parse(line) as Report;
  } catch {
    throw new Error(
      `smoke child failed (status ${out.status}, via ${argv.slice(0, -2).join(' ') || 'no scope'}): ${out.stdout.slice(-500)} ${out.stderr.slice(-2000)}`,
    );
  }
});

const expected = () => report.cgroup.mode ?? 'rlimit';

test('the smoke child ran on this architecture, on the Node line the guest was given', (t) => {
  t.log(`${report.arch}, Node ${process.version}, uid ${report.uid}, ${JSON.stringify(report.cgroup)}`);
  t.is(report.arch, process.arch);
  // test/vm/run.sh picks the Node line (a registry tarball) that test/vm/guest.sh puts first on PATH.
  const nodeBin = process.env['SANDBOX_VM_NODE_BIN'];
  if (inGuest && nodeBin) t.is(path.dirname(process.execPath), nodeBin);
});

// The guests are cgroup v2 by construction; a host may be anything (this one is v1).
(inGuest ? test : test.skip)('the cgroup mode: cgroup2 in the VM guests', (t) => {
  t.is(report.cgroup.mode, 'cgroup2', report.cgroup.reason);
});

test('/bin/true exits 0', (t) => {
  const r = report.runs.true;
  t.is(r.outcome, 'ok', r.stderr ?? '');
  t.is(r.exitCode, 0);
  t.is(r.signal, null);
  t.log(`/bin/true: ${r.wallTimeMs} ms wall`);
});

test('echo: the output comes back', (t) => {
  const r = report.runs.echo;
  t.is(r.outcome, 'ok', r.stderr ?? '');
  t.is(r.stdout, `hello from ${report.arch}\n`);
});

test('memory 64m: a 200 MiB allocation ends memory-limit', (t) => {
  const r = report.runs.memory;
  t.log(
    `${r.outcome} (${r.enforcement}), exit ${r.exitCode}, signal ${r.signal}, peak ${(r.memoryPeakBytes / MiB).toFixed(1)} MiB from ${r.sources.memoryPeak}`,
  );
  t.is(r.enforcement, expected());
  t.false((r.stdout ?? '').includes('survived'));
  if (r.enforcement === 'rlimit') {
    t.not(r.outcome, 'ok');
    return;
  }
  t.is(r.outcome, 'memory-limit');
  t.true(r.memoryPeakBytes >= 48 * MiB && r.memoryPeakBytes <= 70 * MiB, `peak ${r.memoryPeakBytes}`);
  if (r.enforcement === 'cgroup2') t.is(r.sources.memoryPeak, 'memory.peak');
});

test('pids 16: a fork loop is refused before 16 tasks', (t) => {
  const r = report.runs.pids;
  const [forks, errno] = (r.stdout ?? '').trim().split(' ').map(Number);
  t.log(`${r.outcome} (${r.enforcement}): ${forks} forks, then errno ${errno}`);
  t.is(r.enforcement, expected());
  // RLIMIT_NPROC counts every process of the user on the host, so only a cgroup gives a bound here.
  if (r.enforcement === 'rlimit') return;
  t.is(r.outcome, 'ok', r.stderr ?? '');
  t.is(errno, 11); // EAGAIN from fork when pids.max is reached
  t.true(forks! >= 1 && forks! < 16, `forks ${forks}`);
});
