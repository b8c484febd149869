// The real `sandbox exec`, end to end: every exit status of docs/cli.md and the report outputs.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cli, oneLine } from '../helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
chmodSync(scratch, 0o755);
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

test('exit codes 0, 1 and 42 pass through; stdout reaches the caller', async (t) => {
  const ok = await cli(['exec', '--', '/bin/sh', '-c', 'echo hello']);
  t.is(ok.status, 0, ok.stderr);
  t.is(ok.stdout, 'hello\n');
  t.is(ok.stderr, '');
  t.is((await cli(['exec', '--', '/bin/sh', '-c', 'exit 1'])).status, 1);
  t.is((await cli(['exec', 'sh', '-c', 'exit 42'])).status, 42);
});

test('a command killed by SIGKILL → 137; by SIGSEGV → 139', async (t) => {
  t.is((await cli(['exec', '--', 'sh', '-c', 'kill -9 $$'])).status, 137);
  t.is((await cli(['exec', '--', 'sh', '-c', 'kill -SEGV $$'])).status, 139);
});

test('125 with exactly one stderr line: bad flag value, unknown flag, missing command, missing rootfs', async (t) => {
  const bad = await cli(['exec', '--memory', 'lots', '--', '/bin/true']);
  t.is(bad.status, 125);
  oneLine(t, bad.stderr, /--memory.*"lots"/);

  const unknown = await cli(['exec', '--frobnicate', '--', '/bin/true']);
  t.is(unknown.status, 125);
  oneLine(t, unknown.stderr, /unknown option --frobnicate/);

  const missing = await cli(['exec', '--json']);
  t.is(missing.status, 125);
  oneLine(t, missing.stderr, /missing command/);

  const rootfs = await cli(['exec', '--rootfs', join(scratch, 'no-such-root'), '--', '/bin/true']);
  t.is(rootfs.status, 125);
  oneLine(t, rootfs.stderr, /no-such-root/);
});

test('126 for a file that is not executable and for a directory; 127 for a missing command', async (t) => {
  const dir = join(scratch, 'exec');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data.txt'), 'not a program\n', { mode: 0o644 });
  mkdirSync(join(dir, 'subdir'), { recursive: true });

  const plain = await cli(['exec', '-v', `${dir}:/t`, '--', '/t/data.txt']);
  t.is(plain.status, 126, plain.stderr);
  oneLine(t, plain.stderr);

  const directory = await cli(['exec', '-v', `${dir}:/t`, '--', '/t/subdir']);
  t.is(directory.status, 126, directory.stderr);
  oneLine(t, directory.stderr);

  const absent = await cli(['exec', '--', '/no/such/program']);
  t.is(absent.status, 127, absent.stderr);
  oneLine(t, absent.stderr);

  const notInPath = await cli(['exec', '--', 'no-such-command-anywhere']);
  t.is(notInPath.status, 127, notInPath.stderr);
  oneLine(t, notInPath.stderr);
});

test('--result, --json and --meta describe the run', async (t) => {
  const resultFile = join(scratch, 'r.json');
  const metaFile = join(scratch, 'r.meta');
  const ran = await cli(['exec', '--result', resultFile, '--json', '--meta', metaFile, '--', 'sh', '-c', 'echo out; exit 3']);
  t.is(ran.status, 3, ran.stderr);
  t.is(ran.stdout, 'out\n');

  const result = JSON.parse(readFileSync(resultFile, 'utf8'));
  t.is(result.outcome, 'nonzero-exit');
  t.is(result.exitCode, 3);
  t.is(result.signal, null);
  t.is(result.stdout, null);
  t.is(result.stderr, null);
  t.is(typeof result.wallTimeMs, 'number');
  t.true(['cgroup2', 'cgroup1', 'rlimit'].includes(result.enforcement));
  t.regex(readFileSync(resultFile, 'utf8'), /^\{\n {2}"outcome"/, 'pretty-printed with 2 spaces');

  const lines = ran.stderr.trimEnd().split('\n');
  t.is(lines.length, 1, 'the JSON line is the only thing on stderr');
  t.deepEqual(JSON.parse(lines[0]!), result);

  const meta = readFileSync(metaFile, 'utf8');
  t.regex(meta, /^time:\d+\.\d{3}$/m);
  t.regex(meta, /^time-wall:\d+\.\d{3}$/m);
  t.regex(meta, /^max-rss:\d+$/m);
  t.regex(meta, /^exitcode:3$/m);
  t.regex(meta, /^status:RE$/m);
  t.regex(meta, /^message:Exited with error status 3$/m);
});

test('--meta on a setup failure says XX; on a missing command RE with 127', async (t) => {
  const metaFile = join(scratch, 'fail.meta');
  const ran = await cli(['exec', '--meta', metaFile, '--rootfs', join(scratch, 'nope'), '--', '/bin/true']);
  t.is(ran.status, 125);
  t.regex(readFileSync(metaFile, 'utf8'), /^status:XX\nmessage:.*nope.*\n$/);

  const missing = await cli(['exec', '--meta', metaFile, '--', '/no/such/program']);
  t.is(missing.status, 127);
  t.regex(readFileSync(metaFile, 'utf8'), /^exitcode:127\nstatus:RE\n/);
});

test('a report file that cannot be opened is a setup failure and the command does not run', async (t) => {
  const marker = join(scratch, 'ran-marker');
  const ran = await cli([
    'exec',
    '--result',
    join(scratch, 'no/such/dir/r.json'),
    '-v',
    `${scratch}:/s:rw`,
    '--',
    'sh',
    '-c',
    'touch /s/ran-marker',
  ]);
  t.is(ran.status, 125);
  oneLine(t, ran.stderr, /--result/);
  t.false(existsSync(marker));
});

test('-e reaches the command, the host environment does not (only PATH and HOME by default)', async (t) => {
  const ran = await cli(['exec', '-e', 'GREETING=hello world', '-e', 'EQ=a=b=c', '--env=EMPTY=', '--', 'env']);
  t.is(ran.status, 0, ran.stderr);
  const env = ran.stdout.trimEnd().split('\n').sort();
  t.deepEqual(env, ['EMPTY=', 'EQ=a=b=c', 'GREETING=hello world', 'HOME=/tmp', 'PATH=/usr/local/bin:/usr/bin:/bin']);
  t.false(ran.stdout.includes('must-not-leak'));
});

test('--stdin and --stdout redirect to host files', async (t) => {
  const input = join(scratch, 'in.txt');
  const output = join(scratch, 'out.txt');
  writeFileSync(input, 'line one\nline two\n');
  const ran = await cli(['exec', '--stdin', input, '--stdout', output, '--', 'cat']);
  t.is(ran.status, 0, ran.stderr);
  t.is(ran.stdout, '');
  t.is(readFileSync(output, 'utf8'), 'line one\nline two\n');
});

test('SIGTERM to the CLI is forwarded: the command dies by it and the CLI exits 143', async (t) => {
  let sentAt = 0;
  const ran = await cli(['exec', '--', 'sh', '-c', 'echo ready; exec sleep 30'], {
    onStdout: (pid, soFar) => {
      if (sentAt === 0 && soFar.includes('ready')) {
        sentAt = Date.now();
        process.kill(pid, 'SIGTERM');
      }
    },
  });
  t.is(ran.status, 143, ran.stderr);
  t.is(ran.stdout, 'ready\n');
  t.true(Date.now() - sentAt < 10_000, 'ended soon after the signal, not after sleep 30');
});

test('--help, exec --help and --version exit 0 on stdout', async (t) => {
  for (const args of [['--help'], ['exec', '--help'], ['--version']]) {
    const ran = await cli(args);
    t.is(ran.status, 0, args.join(' '));
    t.is(ran.stderr, '');
    t.true(ran.stdout.length > 0);
  }
  t.regex((await cli(['--version'])).stdout, /^sandbox \d+\.\d+\.\d+\n$/);
  t.regex((await cli(['exec', '--help'])).stdout, /--wall-time-limit/);
  const unknown = await cli(['frobnicate']);
  t.is(unknown.status, 125);
  oneLine(t, unknown.stderr, /unknown command/);
});
