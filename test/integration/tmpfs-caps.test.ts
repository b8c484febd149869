// tmpfs caps through the real sandbox: /tmp, /dev/shm and --tmpfs mounts have a size and inode cap,
// never above the memory limit, and without a cgroup what a run leaves there counts in its memory
// figure. Root here uses cgroup v1 (tmpfs pages are charged to it); rootless the rlimit fallback,
// where the cap is what holds a write to /tmp, and the CLI says once that limits fell back.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import test from 'ava';
import { Sandbox } from '../../lib/index.js';
import { text } from '../helpers/host.js';

const MiB = 1 << 20;
const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/lib/sandbox-cli.cjs');

/** df's 1K-blocks and inodes of each path inside. */
async function capsInside(sandbox: Sandbox, paths: string[]): Promise<Record<string, { kb: number; inodes: number }>> {
  const r = await sandbox.run(['sh', '-c', `df -Pk ${paths.join(' ')} | tail -n +2; df -Pi ${paths.join(' ')} | tail -n +2`]);
  const lines = text(r.stdout)
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/));
  const out: Record<string, { kb: number; inodes: number }> = {};
  for (const [i, p] of paths.entries()) out[p] = { kb: Number(lines[i]![1]), inodes: Number(lines[paths.length + i]![1]) };
  return out;
}

test('by default /tmp is capped at 128 MiB and /dev/shm at 64 MiB, 4096 inodes each', async (t) => {
  const caps = await capsInside(new Sandbox(), ['/tmp', '/dev/shm']);
  t.deepEqual(caps, { '/tmp': { kb: 128 * 1024, inodes: 4096 }, '/dev/shm': { kb: 64 * 1024, inodes: 4096 } });
});

test('--tmpfs sizes are kept, but never above the memory limit', async (t) => {
  const sized = await capsInside(new Sandbox({ tmpfs: [{ dst: '/tmp', size: '256m' }, { dst: '/work' }] }), ['/tmp', '/work']);
  t.deepEqual(sized, { '/tmp': { kb: 256 * 1024, inodes: 8192 }, '/work': { kb: 128 * 1024, inodes: 4096 } });
  const limited = await capsInside(new Sandbox({ memory: '32m', tmpfs: [{ dst: '/work', size: '1g' }] }), ['/tmp', '/dev/shm', '/work']);
  for (const p of ['/tmp', '/dev/shm', '/work']) t.is(limited[p]!.kb, 32 * 1024, p);
});

test('a warm sandbox gets its caps back after each run', async (t) => {
  const sandbox = new Sandbox({ pool: 1 });
  try {
    await sandbox.warm();
    for (let i = 0; i < 2; i++) {
      t.deepEqual(await capsInside(sandbox, ['/tmp', '/dev/shm']), {
        '/tmp': { kb: 128 * 1024, inodes: 4096 },
        '/dev/shm': { kb: 64 * 1024, inodes: 4096 },
      });
    }
  } finally {
    await sandbox.close();
  }
});

test('more files than the inode cap: the run gets ENOSPC, the host keeps its inodes', async (t) => {
  const r = await new Sandbox().run(['sh', '-c', 'i=0; while [ $i -lt 5000 ]; do echo > /tmp/f$i || exit 3; i=$((i+1)); done']);
  t.not(r.exitCode, 0, text(r.stderr));
  // The root directory takes one inode: the 4096th file is refused.
  t.regex(text(r.stderr), /f4095: No space left on device/);
});

test('300 MB written to /tmp under -m 64m cannot pass the cap, and the figure counts what is there', async (t) => {
  const r = await new Sandbox({ memory: '64m' }).run(['sh', '-c', 'head -c 300M /dev/zero > /tmp/f; echo $?; du -k /tmp/f']);
  t.log(`${r.outcome}, ${r.enforcement}, peak ${(r.memoryPeakBytes / MiB).toFixed(1)} MiB, ${text(r.stdout).replace(/\n/g, ' ')}`);
  if (r.enforcement === 'rlimit') {
    // The cap holds the write; the pages are not address space, so the figure adds them.
    t.is(r.outcome, 'ok');
    const [status, kb] = text(r.stdout).trim().split(/\s+/);
    t.not(status, '0', 'head failed: No space left on device');
    t.true(Number(kb) <= 64 * 1024);
    t.true(r.memoryPeakBytes >= Number(kb) * 1024, `peak ${r.memoryPeakBytes} counts the ${kb} KiB in /tmp`);
    t.is(r.sources.memoryPeak, 'rusage');
  } else {
    // The cgroup charges the tmpfs pages: either the cap or the memory limit stops the write.
    t.true(['ok', 'memory-limit'].includes(r.outcome), r.outcome);
    t.true(r.memoryPeakBytes <= 64 * MiB + MiB);
  }
});

function runCli(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stderr }));
  });
}

const cliTest = existsSync(cli) ? test : test.skip;
cliTest('the CLI says in one line when -m and --cpus fall back, with the reason; nothing when a cgroup holds them', async (t) => {
  const r = await runCli(['exec', '-m', '64m', '--cpus', '0.5', '--json', '--', 'true']);
  t.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stderr.split('\n').find((l) => l.startsWith('{'))!) as {
    enforcement: string;
    cgroup: string | null;
    cgroupVia: string | null;
  };
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('sandbox:'));
  if (result.enforcement === 'rlimit') {
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0]!, /^sandbox: limits not enforced as asked \(.+\): .*--cpus 0\.5 not enforced/);
    t.is(result.cgroup, null);
    t.is(result.cgroupVia, null);
  } else {
    t.deepEqual(lines, []);
    t.is(result.cgroupVia, 'caller');
    t.regex(result.cgroup!, /\/sandbox-\d+-\d+-\d+$/);
  }
});
