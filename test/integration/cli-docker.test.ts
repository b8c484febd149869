// The CLI as a Docker user expects it, end to end: no hang with -t, honest limits, a line that says
// which limit ended the run, the host identity of a rw bind, docker's flags, and a consistent
// identity inside (docs/cli.md).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cli, cliSync, oneLine } from '../helpers/cli.js';

const isRoot = process.getuid!() === 0;
const NOBODY = 65534;
const scratch = mkdtempSync(join(tmpdir(), 'sandbox-cli-docker-'));
chmodSync(scratch, 0o755);
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

/** Longer than any run of these tests takes, even in an emulated guest: past it, the CLI hangs. */
const HANG_MS = 600_000;

/** stderr's lines, without the trailing empty one. */
const lines = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '');

// Whether this caller's runs get a cgroup (root on this host; rootless on cgroup v1: no).
const probe = cliSync(['exec', '--memory', '64m', '--json', '--', 'true']);
const enforcement = (JSON.parse(lines(probe.stderr).find((l) => l.startsWith('{')) ?? '{}') as { enforcement?: string }).enforcement;
const withCgroup = enforcement === 'cgroup1' || enforcement === 'cgroup2';

test('-t with input that is not a terminal: its end reaches the command, which exits', async (t) => {
  // Under load (or an emulated guest) a run takes seconds to minutes: the kill is only there to turn
  // a hang into a failure.
  t.timeout(HANG_MS * 4);
  const piped = await cli(['exec', '-t', '--', 'sh'], { input: 'echo ab$((1+1))\n', killAfterMs: HANG_MS });
  t.is(piped.signal, null, 'not killed: it ended by itself');
  t.is(piped.status, 0, piped.stderr);
  t.true(piped.stdout.includes('ab2'), piped.stdout);

  const empty = await cli(['exec', '-t', '--', 'cat'], { input: 'null', killAfterMs: HANG_MS });
  t.is(empty.signal, null);
  t.is(empty.status, 0, empty.stderr);

  const partial = await cli(['exec', '-t', '--', 'cat'], { input: 'no newline', killAfterMs: HANG_MS });
  t.is(partial.status, 0, partial.stderr);
  t.true(partial.stdout.includes('no newline'));

  const script = join(scratch, 'typed.sh');
  writeFileSync(script, 'echo cd$((3+4))\n');
  const file = await cli(['exec', '-t', '--stdin', script, '--', 'sh'], { input: 'null', killAfterMs: HANG_MS });
  t.is(file.status, 0, file.stderr);
  t.true(file.stdout.includes('cd7'), '--stdin FILE is typed into the terminal, and its end ends the command');
});

test('-t: a command that closes its terminal before it exits is not hung up (no SIGHUP from the parent closing the master)', async (t) => {
  t.timeout(HANG_MS * 2);
  // The parent's reader sees EIO once no slave fd is open; the terminal stays up until the run's
  // tree has ended, so the shell, still alive after closing its stdio, exits by itself.
  const r = await cli(['exec', '-t', '--', 'sh', '-c', 'exec 0<&- 1>&- 2>&-; sleep 0.3; exit 7'], { input: 'null', killAfterMs: HANG_MS });
  t.is(r.signal, null);
  t.is(r.status, 7, r.stderr);
});

test("-t passes the caller's TERM (xterm when it has none)", async (t) => {
  t.timeout(HANG_MS * 3);
  const ran = await cli(['exec', '-t', '--', 'sh', '-c', 'echo "[$TERM]"'], {
    input: 'null',
    env: { TERM: 'vt220' },
    killAfterMs: HANG_MS,
  });
  t.is(ran.status, 0, ran.stderr);
  t.regex(ran.stdout, /\[vt220\]/);
  const set = await cli(['exec', '-t', '-e', 'TERM=dumb', '--', 'sh', '-c', 'echo "[$TERM]"'], {
    input: 'null',
    env: { TERM: 'vt220' },
    killAfterMs: HANG_MS,
  });
  t.regex(set.stdout, /\[dumb\]/, '-e TERM wins');
});

/** Runs the CLI so that no cgroup is usable: as nobody when this test runs as root. */
const fallbackRun = (args: string[]) => cli(args, isRoot ? { as: NOBODY } : {});

(isRoot || !withCgroup ? test : test.skip)(
  'a limit no cgroup enforces is not reported as applied, and one stderr line says so',
  async (t) => {
    const out = join(scratch, 'fallback.json');
    if (isRoot) writeFileSync(out, '');
    if (isRoot) chownSync(out, NOBODY, NOBODY);
    const ran = await fallbackRun(['exec', '--cpus', '0.5', '--memory', '64m', '--result', out, '--', 'true']);
    t.is(ran.status, 0, ran.stderr);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    t.is(result.enforcement, 'rlimit');
    t.is(result.limits.cpuQuota, null, 'a CPU quota nothing enforced is not in limits');
    t.is(result.limits.memoryBytes, 64 * 1024 ** 2, 'RLIMIT_AS stands in for memory');
    t.is(result.limitsRequested.cpuQuota, 0.5);
    t.deepEqual(
      result.limitFallbacks.map((f: { limit: string; instead: string | null }) => [f.limit, f.instead]),
      [
        ['cpuQuota', null],
        ['memoryBytes', 'RLIMIT_AS'],
      ],
    );
    t.true(result.limitFallbacks.every((f: { reason: string }) => f.reason.length > 0));
    oneLine(t, ran.stderr, /^sandbox: limits not enforced as asked \(.+\): --cpus 0\.5 not enforced; --memory 64 MiB as RLIMIT_AS/);

    const quiet = await fallbackRun(['exec', '--quiet', '--cpus', '0.5', '--', 'true']);
    t.is(quiet.status, 0);
    t.is(quiet.stderr, '', '--quiet silences it');

    const strict = await fallbackRun(['exec', '--require-cgroup', '--cpus', '0.5', '--', 'true']);
    t.is(strict.status, 125, '--require-cgroup stays the strict mode');
    oneLine(t, strict.stderr, /no usable cgroup/);
  },
);

test('a limit kill says which limit and the figure, in one stderr line; --quiet silences it', async (t) => {
  const kill = (l: string[]) => l.filter((x) => !x.startsWith('sandbox: limits not enforced'));
  const wall = await cli(['exec', '--wall-time-limit', '0.3', '--', 'sleep', '5']);
  t.is(wall.status, 137);
  t.deepEqual(kill(lines(wall.stderr)).length, 1);
  t.regex(kill(lines(wall.stderr))[0]!, /^sandbox: wall time limit 0\.3 s exceeded \(ran \d+(\.\d+)? s\)$/);

  const output = await cli(['exec', '--output-limit', '1k', '--', 'sh', '-c', 'while :; do echo yyyyyyyyyyyyyyyy; done']);
  t.is(output.status, 137, output.stderr);
  t.deepEqual(kill(lines(output.stderr)), ['sandbox: output limit 1 KiB exceeded on stdout or stderr']);

  const cpu = await cli(['exec', '--time-limit', '0.3', '--', 'sh', '-c', 'while :; do :; done']);
  t.true(cpu.status === 137 || cpu.status === 152, `killed (status ${cpu.status})`);
  t.deepEqual(kill(lines(cpu.stderr)).length, 1, cpu.stderr);
  t.regex(kill(lines(cpu.stderr))[0]!, /^sandbox: CPU time limit 0\.3 s exceeded \(used \d+(\.\d+)? s\)$/);

  const quiet = await cli(['exec', '-q', '--wall-time-limit', '0.3', '--', 'sleep', '5']);
  t.is(quiet.status, 137);
  t.is(quiet.stderr, '');
});

(withCgroup ? test : test.skip)('a memory limit kill names the limit and the peak (needs a cgroup)', async (t) => {
  const ran = await cli(['exec', '-m', '64m', '--', 'python3', '-c', 'b = bytearray(200 * 1024 * 1024)']);
  t.is(ran.status, 137, ran.stderr);
  oneLine(t, ran.stderr, /^sandbox: memory limit 64 MiB exceeded \(peak \d+\.\d MiB\)$/);
});

test('-u UID[:GID]: a root caller chooses the host id a rw bind is written as; a refused write gets a hint', async (t) => {
  const dir = join(scratch, 'owned');
  mkdirSync(dir, { mode: 0o755 });
  if (!isRoot) {
    const other = await cli(['exec', '-u', String(process.getuid!() + 1), '--', 'true']);
    t.is(other.status, 125);
    oneLine(t, other.stderr, /only root may choose the host identity/);
    return;
  }
  chownSync(dir, 4242, 4243);
  const refused = await cli(['exec', '-v', `${dir}:/data:rw`, '--', 'touch', '/data/x']);
  t.is(refused.status, 1);
  const hint = lines(refused.stderr).filter((l) => l.startsWith('sandbox: '));
  t.is(hint.length, 1, refused.stderr);
  t.regex(
    hint[0]!,
    /^sandbox: hint: .*owned by 4242:4243 with mode 755, and the sandbox writes as host 65534:65534; run with -u 4242:4243/,
  );

  const written = await cli(['exec', '-u', '4242:4243', '-v', `${dir}:/data:rw`, '--', 'sh', '-c', 'touch /data/x && id -u']);
  t.is(written.status, 0, written.stderr);
  t.is(written.stdout, '1000\n', 'inside, still uid 1000');
  t.is(written.stderr, '');
  t.true(existsSync(join(dir, 'x')));

  const rootId = await cli(['exec', '-u', '0', '--', 'true']);
  t.is(rootId.status, 125);
  oneLine(t, rootId.stderr, /never 0: the command never runs as host root/);
});

test('an empty command is 125 and one clear line (not an internal error)', async (t) => {
  for (const args of [
    ['exec', ''],
    ['exec', '--', ''],
  ]) {
    const ran = await cli(args);
    t.is(ran.status, 125);
    oneLine(t, ran.stderr, /^sandbox: the command is empty/);
  }
});

test('exec -h is help, and lists --network; --pids-limit is --pids', async (t) => {
  const help = await cli(['exec', '-h']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^Usage: +sandbox exec/);
  t.regex(help.stdout, /--network string/);
  const pids = await cli(['exec', '--pids-limit', '16', '--json', '-q', '--', 'true']);
  t.is(pids.status, 0, pids.stderr);
  t.is(JSON.parse(pids.stderr).limitsRequested.pids, 16);
});

test('--stdin FILE that cannot be opened: the whole path and the cause, in one line', async (t) => {
  const missing = join(scratch, 'a-rather-long-directory-name-to-make-the-message-long', 'missing-input.txt');
  const ran = await cli(['exec', '--stdin', missing, '--', 'cat']);
  t.is(ran.status, 125);
  oneLine(t, ran.stderr, new RegExp(`^sandbox: cannot open stdin file ${missing.replace(/[.]/g, '\\.')}: No such file or directory$`));
});

test('--result - and --meta - write to stdout', async (t) => {
  const ran = await cli(['exec', '--result', '-', '--', 'true']);
  t.is(ran.status, 0, ran.stderr);
  t.is(JSON.parse(ran.stdout).outcome, 'ok');
  t.false(existsSync(join(process.cwd(), '-')));
  const meta = await cli(['exec', '--meta', '-', '--', 'true']);
  t.regex(meta.stdout, /^time:\d+\.\d{3}$/m);
});

test('--cpus beyond the CPUs there are is 125 and says how many', async (t) => {
  const ran = await cli(['exec', '--cpus', '100', '--', 'true']);
  t.is(ran.status, 125);
  const n = availableParallelism();
  oneLine(t, ran.stderr, new RegExp(`from 0\\.01 to ${n} \\(there (are only ${n} CPUs|is only 1 CPU)\\) for --cpus but received 100$`));
});

test('a refused docker flag names itself and the nearest supported one', async (t) => {
  const ran = await cli(['exec', '--privileged', '--', 'true']);
  t.is(ran.status, 125);
  oneLine(t, ran.stderr, /^sandbox: --privileged is not supported: .*--seccomp/);
  const port = await cli(['exec', '-p', '80:80', '--', 'true']);
  oneLine(t, port.stderr, /^sandbox: -p is not supported: .*--network host/);
});

test("docker's flags end to end: --rm --init --ulimit --shm-size --env-file --mount --tmpfs OPTIONS --memory-swap", async (t) => {
  const envFile = join(scratch, 'env');
  writeFileSync(envFile, '# settings\nA=from file\nB=2\n');
  const data = join(scratch, 'mount-src');
  mkdirSync(data);
  writeFileSync(join(data, 'f'), 'bound\n');
  const ran = await cli([
    'exec',
    '--rm',
    '--init',
    '--ulimit',
    'nofile=50:60',
    '--shm-size',
    '2m',
    '--env-file',
    envFile,
    '-e',
    'B=3',
    '--mount',
    `type=bind,src=${data},dst=/m,readonly`,
    '--mount',
    'type=tmpfs,dst=/scratch,tmpfs-size=1m',
    '--tmpfs',
    '/run:rw,size=3m',
    '-m',
    '256m',
    '--memory-swap',
    '256m',
    '--',
    'sh',
    '-c',
    'ulimit -n; ulimit -Hn; echo "$A/$B"; cat /m/f; df -k /dev/shm /scratch /run | tail -3 | awk \'{print $2}\'; touch /m/g 2>/dev/null || echo ro',
  ]);
  t.is(ran.status, 0, ran.stderr);
  t.deepEqual(ran.stdout.trimEnd().split('\n'), ['50', '60', 'from file/3', 'bound', '2048', '1024', '3072', 'ro']);
});

const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p) && spawnSync('ldd', [p]).status !== 0);
(busybox !== undefined || process.env.CI === 'true' ? test : test.skip)(
  "a rootfs directory: a passwd entry for the id inside, the sandbox's hostname; the rootfs on disk unchanged",
  async (t) => {
    t.truthy(busybox, 'a static busybox (Debian: busybox-static)');
    const rootfs = join(scratch, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(busybox!, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const c of ['sh', 'whoami', 'id', 'cat', 'hostname']) symlinkSync('busybox', join(rootfs, 'bin', c));
    const files = {
      passwd: 'root:x:0:0:root:/root:/bin/sh\n',
      group: 'root:x:0:\n',
      hostname: 'imagehost\n',
      hosts: '127.0.0.1\tlocalhost\n',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(rootfs, 'etc', name), text);

    const ran = await cli([
      'exec',
      '--rootfs',
      rootfs,
      '--hostname',
      'judge',
      '-e',
      'PATH=/bin',
      '--',
      'sh',
      '-c',
      'whoami; id -gn; cat /etc/hostname; grep -c judge /etc/hosts; grep -c ^root: /etc/passwd',
    ]);
    t.is(ran.status, 0, ran.stderr);
    t.deepEqual(ran.stdout.trimEnd().split('\n'), ['sandbox', 'sandbox', 'judge', '1', '1']);
    for (const [name, text] of Object.entries(files))
      t.is(readFileSync(join(rootfs, 'etc', name), 'utf8'), text, `etc/${name} on disk unchanged`);
  },
);
