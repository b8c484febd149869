import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { parseExecArgs } from '../../lib/cli/args.js';
import { SandboxError } from '../../lib/errors.js';
import { parseSeccompFile } from '../../lib/seccomp/index.js';

const MiB = 1024 ** 2;
const parse = (...argv: string[]) => parseExecArgs(argv, { FROM_HOST: 'host value', EMPTY: '' });

function fails(t: import('ava').ExecutionContext, argv: string[], pattern: RegExp): void {
  const error = t.throws(() => parseExecArgs(argv, {}), { instanceOf: SandboxError }, argv.join(' '));
  t.is(error?.stage, 'options');
  t.notRegex(error!.message, /[\r\n]/);
  t.regex(error!.message, pattern, argv.join(' '));
}

test('defaults: inherited stdio, no outputs, the command after --', (t) => {
  const inv = parse('--', '/bin/true');
  t.deepEqual(inv.command, ['/bin/true']);
  t.deepEqual(inv.run, { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' });
  t.deepEqual(inv.output, { result: null, json: false, meta: null, quiet: false });
  t.deepEqual(inv.options, { binds: [], tmpfs: [], env: {} });
  t.false(inv.help);
});

test('the command starts at the first word that is not an option, like docker', (t) => {
  const inv = parse('-m', '64m', 'python3', '-c', 'print(1)', '--memory', '1g', '--');
  t.deepEqual(inv.command, ['python3', '-c', 'print(1)', '--memory', '1g', '--']);
  t.is(inv.options.memory, 64 * MiB);
  t.deepEqual(parse('--', '--json').command, ['--json']);
  t.deepEqual(parse('--', '-').command, ['-']);
  t.deepEqual(parse('-').command, ['-']);
  t.deepEqual(parse('--json', '--', 'a', '--', 'b').command, ['a', '--', 'b']);
  t.true(parse('--json', 'echo').output.json);
});

test('every valued flag works as --opt value and --opt=value', (t) => {
  const cases: Array<[string, string, (inv: ReturnType<typeof parse>) => unknown, unknown]> = [
    ['--rootfs', '/srv/root', (i) => i.options.rootfs, '/srv/root'],
    ['--bind', '/a:/b', (i) => i.options.binds, [{ src: '/a', dst: '/b', rw: false }]],
    ['--tmpfs', '/scratch', (i) => i.options.tmpfs, [{ dst: '/scratch' }]],
    ['--env', 'A=1', (i) => i.options.env, { A: '1' }],
    ['--workdir', '/work', (i) => i.options.cwd, '/work'],
    ['--hostname', 'judge-1', (i) => i.options.hostname, 'judge-1'],
    ['--net', 'host', (i) => i.options.network, 'host'],
    ['--network', 'none', (i) => i.options.network, 'none'],
    ['--cpus', '0.5', (i) => i.options.cpuQuota, 0.5],
    ['--memory', '256m', (i) => i.options.memory, 256 * MiB],
    ['--pids', '64', (i) => i.options.pids, 64],
    ['--time-limit', '1.5', (i) => i.options.timeLimit, 1.5],
    ['--wall-time-limit', '10', (i) => i.options.wallTimeLimit, 10],
    ['--output-limit', '1k', (i) => i.options.outputLimit, 1024],
    ['--stdin', '/in.txt', (i) => i.run.stdin, { file: '/in.txt' }],
    ['--stdout', '/out.txt', (i) => i.run.stdout, { file: '/out.txt' }],
    ['--stderr', '/err.txt', (i) => i.run.stderr, { file: '/err.txt' }],
    ['--result', '/r.json', (i) => i.output.result, '/r.json'],
    ['--meta', '/r.meta', (i) => i.output.meta, '/r.meta'],
    ['--cgroup-parent', '/', (i) => i.options.cgroupParent, '/'],
    ['--seccomp', 'none', (i) => i.options.seccomp, 'none'],
    ['--seccomp', 'default', (i) => i.options.seccomp, 'default'],
  ];
  for (const [flag, value, get, expected] of cases) {
    t.deepEqual(get(parse(flag, value, '--', 'cmd')), expected, `${flag} ${value}`);
    t.deepEqual(get(parse(`${flag}=${value}`, '--', 'cmd')), expected, `${flag}=${value}`);
  }
});

test('short options: -v -e -w -m with a separate, attached or =-attached value; -i -t clustered', (t) => {
  for (const argv of [
    ['-v', '/a:/b:rw', '-e', 'K=V', '-w', '/w', '-m', '1g'],
    ['-v/a:/b:rw', '-eK=V', '-w/w', '-m1g'],
    ['-v=/a:/b:rw', '-e=K=V', '-w=/w', '-m=1g'],
  ]) {
    const inv = parse(...argv, 'cmd');
    t.deepEqual(inv.options.binds, [{ src: '/a', dst: '/b', rw: true }], argv.join(' '));
    t.deepEqual(inv.options.env, { K: 'V' });
    t.is(inv.options.cwd, '/w');
    t.is(inv.options.memory, 1024 ** 3);
  }
  t.true(parse('-t', 'sh').options.tty);
  t.is(parse('-t', 'sh').options.env!.TERM, 'xterm', 'TERM set with -t (the caller has none here)');
  t.true(parse('-it', 'sh').options.tty);
  t.true(parse('-ti', 'sh').options.tty);
  t.is(parse('-i', 'sh').options.tty, undefined);
  const inv = parse('-ite', 'A=1', 'sh');
  t.true(inv.options.tty);
  t.deepEqual(inv.options.env, { A: '1', TERM: 'xterm' });
});

test('boolean flags: --json, --require-cgroup, --tty, --interactive', (t) => {
  const inv = parse('--json', '--require-cgroup', '--tty', '--interactive', 'cmd');
  t.true(inv.output.json);
  t.true(inv.options.requireCgroup);
  t.true(inv.options.tty);
  fails(t, ['--json=yes', 'cmd'], /--json takes no value/);
  fails(t, ['--tty=1', 'cmd'], /--tty takes no value/);
});

test('repeatable flags accumulate; single ones keep the last value', (t) => {
  const inv = parse(
    '-v',
    '/a:/a',
    '--bind',
    '/b:/c:ro',
    '-v=/d:/e:rw',
    '--tmpfs',
    '/t1',
    '--tmpfs=/t2:64m',
    '--tmpfs',
    '/t3:size=1k',
    '-e',
    'A=1',
    '--env',
    'B=2',
    '-e',
    'A=3',
    '--memory',
    '1m',
    '--memory',
    '2m',
    'cmd',
  );
  t.deepEqual(inv.options.binds, [
    { src: '/a', dst: '/a', rw: false },
    { src: '/b', dst: '/c', rw: false },
    { src: '/d', dst: '/e', rw: true },
  ]);
  t.deepEqual(inv.options.tmpfs, [{ dst: '/t1' }, { dst: '/t2', size: 64 * MiB }, { dst: '/t3', size: 1024 }]);
  t.deepEqual(inv.options.env, { A: '3', B: '2' });
  t.is(inv.options.memory, 2 * MiB);
});

test('-e: values keep spaces, = and emptiness; a bare KEY copies the caller value when set', (t) => {
  const inv = parse(
    '-e',
    'A=hello world',
    '-e',
    'B=x=y==z',
    '-e',
    'C=',
    '-e',
    'D= lead and trail ',
    '-e',
    'FROM_HOST',
    '-e',
    'EMPTY',
    '-e',
    'NOT_ON_HOST',
    '-e',
    '_u9=ok',
    'env',
  );
  t.deepEqual(inv.options.env, {
    A: 'hello world',
    B: 'x=y==z',
    C: '',
    D: ' lead and trail ',
    FROM_HOST: 'host value',
    EMPTY: '',
    _u9: 'ok',
  });
  t.false('NOT_ON_HOST' in inv.options.env!);
  t.deepEqual(Object.keys(parse('-e', '__proto__=x', '-e', 'constructor', 'c').options.env!), ['__proto__']);
  // biome-ignore lint/suspicious/noProto: the test is that a variable named __proto__ is kept as data
  t.is(parse('-e', '__proto__=x', 'c').options.env!['__proto__'], 'x');
  fails(t, ['-e=', 'A=1', 'c'], /for -e but received ""$/);
  fails(t, ['-e', '=v', 'cmd'], /Expected KEY=VALUE .* for -e but received "=v"/);
  fails(t, ['-e', '1A=v', 'cmd'], /for -e/);
  fails(t, ['--env', 'A B=v', 'cmd'], /for --env/);
  fails(t, ['-e', 'A-B=v', 'cmd'], /for -e/);
  fails(t, ['-e', '', 'cmd'], /for -e/);
});

test('-v: SRC resolved against the current directory, DST absolute, mode ro or rw', (t) => {
  t.deepEqual(parse('-v', 'data:/data', 'cmd').options.binds, [{ src: resolve('data'), dst: '/data', rw: false }]);
  t.deepEqual(parse('-v', './x/../y:/y/:ro', 'cmd').options.binds, [{ src: resolve('y'), dst: '/y', rw: false }]);
  t.deepEqual(parse('-v', '/a:/b/./c//', 'cmd').options.binds, [{ src: '/a', dst: '/b/c', rw: false }]);
  fails(t, ['-v', '/a:/b/../c', 'cmd'], /absolute path without '\.\.' for -v/);
  fails(t, ['-v', '/a', 'cmd'], /Expected SRC:DST\[:ro\|rw\] .* for -v but received "\/a"/);
  fails(t, ['-v', '/a:b', 'cmd'], /absolute path.* for -v/);
  fails(t, ['-v', '/a:/b:rx', 'cmd'], /ro or rw for -v but received "\/a:\/b:rx"/);
  fails(t, ['-v', '/a:/b:ro:x', 'cmd'], /for -v/);
  fails(t, ['-v', ':/b', 'cmd'], /for -v/);
  fails(t, ['--bind', '/a:', 'cmd'], /for --bind/);
  fails(t, ['--bind', '/a:/b:', 'cmd'], /for --bind/);
});

test('--tmpfs and -w need absolute paths inside; sizes are checked', (t) => {
  fails(t, ['--tmpfs', 'tmp', 'cmd'], /absolute path.* for --tmpfs/);
  fails(t, ['--tmpfs', '/t:lots', 'cmd'], /size .* for --tmpfs but received "lots"/);
  fails(t, ['--tmpfs', '/t:', 'cmd'], /for --tmpfs/);
  fails(t, ['-w', 'rel', 'cmd'], /absolute path.* for -w/);
  fails(t, ['--workdir=', 'cmd'], /for --workdir/);
});

test('host paths (rootfs, stdio, reports) are resolved against the current directory', (t) => {
  const inv = parse('--rootfs', 'root', '--stdin', 'in', '--stdout=out', '--stderr', 'err', '--result', 'r', '--meta', 'm', 'c');
  t.is(inv.options.rootfs, resolve('root'));
  t.deepEqual(inv.run, { stdin: { file: resolve('in') }, stdout: { file: resolve('out') }, stderr: { file: resolve('err') } });
  t.deepEqual(inv.output, { result: resolve('r'), json: false, meta: resolve('m'), quiet: false });
  fails(t, ['--rootfs', '', 'cmd'], /for --rootfs/);
  fails(t, ['--stdout=', 'cmd'], /for --stdout/);
});

test('malformed values name the flag, the expectation and the value', (t) => {
  fails(t, ['--memory', 'lots', 'cmd'], /^Expected a size .*256m.* for --memory but received "lots"$/);
  fails(t, ['-m', '-1', 'cmd'], /for -m but received "-1"/);
  fails(t, ['--output-limit', '1.5', 'cmd'], /for --output-limit/);
  fails(t, ['--cpus', '0', 'cmd'], /number of CPUs from 0\.01 to \d+ .* for --cpus but received 0$/);
  fails(t, ['--cpus', 'two', 'cmd'], /for --cpus/);
  fails(t, ['--cpus', '-1', 'cmd'], /for --cpus/);
  fails(t, ['--cpus', '1e3', 'cmd'], /for --cpus/);
  fails(t, ['--pids', '0', 'cmd'], /whole number .* for --pids/);
  fails(t, ['--pids', '1.5', 'cmd'], /for --pids/);
  fails(t, ['--pids', '99999999', 'cmd'], /for --pids/);
  fails(t, ['--time-limit', '0', 'cmd'], /seconds .* for --time-limit but received "0"/);
  fails(t, ['--time-limit', 'soon', 'cmd'], /for --time-limit/);
  fails(t, ['--wall-time-limit=-3', 'cmd'], /for --wall-time-limit/);
  fails(t, ['--net', 'bridge', 'cmd'], /^Expected none or host \(.*\) for --net but received "bridge"$/);
  fails(t, ['--hostname', 'a b', 'cmd'], /hostname .* for --hostname/);
  fails(t, ['--hostname', 'x'.repeat(65), 'cmd'], /for --hostname/);
  fails(t, ['--hostname', '', 'cmd'], /for --hostname/);
  fails(t, ['--cgroup-parent', '', 'cmd'], /for --cgroup-parent/);
});

test('a flag without its value is an error naming the flag', (t) => {
  for (const flag of ['--memory', '-m', '--env', '-e', '-v', '--rootfs', '--meta', '--seccomp', '--pids']) {
    fails(t, [flag], new RegExp(`^${flag} needs a value$`));
  }
  fails(t, ['-it', '-e'], /^-e needs a value$/);
});

test('unknown flags are errors, with a hint for a near miss and for -h', (t) => {
  fails(t, ['--frobnicate', 'cmd'], /^unknown option --frobnicate; see 'sandbox exec --help'$/);
  fails(t, ['--memroy', '1m', 'cmd'], /^unknown option --memroy; did you mean --memory\?$/);
  fails(t, ['--memroy=1m', 'cmd'], /^unknown option --memroy; did you mean --memory\?$/);
  fails(t, ['-x', 'cmd'], /^unknown option -x;/);
  fails(t, ['-itx', 'cmd'], /^unknown option -x \(in "-itx"\)/);
  fails(t, ['---', 'cmd'], /^unknown option/);
});

test('a missing command is an error', (t) => {
  fails(t, [], /^missing command/);
  fails(t, ['--json'], /^missing command/);
  fails(t, ['-m', '1m', '--'], /^missing command/);
});

test('--help before the command asks for help and skips validation of the rest', (t) => {
  t.true(parse('--help').help);
  t.true(parse('--memory', '1m', '--help', '--bogus').help);
  t.false(parse('--', 'cmd', '--help').help);
  t.deepEqual(parse('cmd', '--help').command, ['cmd', '--help']);
});

test('NUL bytes anywhere are rejected, naming where', (t) => {
  fails(t, ['--hostname', 'a\0b', 'cmd'], /^--hostname: "a\\u0000b" contains a NUL byte$/);
  fails(t, ['--hostname=a\0b', 'cmd'], /^--hostname: .* NUL byte$/);
  fails(t, ['-eA=\0', 'cmd'], /^-e: .* NUL byte$/);
  fails(t, ['--', 'c\0md'], /^the command: .* NUL byte$/);
  fails(t, ['cmd', 'ok', 'b\0ad'], /^argument 2 of the command: .* NUL byte$/);
  fails(t, ['--js\0on', 'cmd'], /^unknown option "--js\\u0000on"/);
});

test('--seccomp FILE: read and parsed; a missing file is one line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-args-'));
  fails(
    t,
    ['--seccomp', join(dir, 'missing.policy'), 'cmd'],
    /^--seccomp: cannot read policy file ".*missing\.policy": No such file or directory$/,
  );
  mkdirSync(join(dir, 'sub'));
  fails(t, ['--seccomp', join(dir, 'sub'), 'cmd'], /^--seccomp: cannot read policy file .*: not a regular file$/);

  const file = join(dir, 'policy.json');
  const text = '{"deny": ["ptrace"], "allow": ["personality"]}';
  writeFileSync(file, text);
  t.deepEqual(parse('--seccomp', file, 'cmd').options.seccomp, parseSeccompFile(text));
  t.deepEqual(parse(`--seccomp=${file}`, 'cmd').options.seccomp, parseSeccompFile(text));

  writeFileSync(file, '{"deny": \n oops');
  fails(t, ['--seccomp', file, 'cmd'], /^--seccomp: ".*policy\.json": .*JSON/);
});

// ---- issue 18: docker's flags, and the bugs of the CLI's parsing ----------------------------------

test('-h is help, as the help says (it is not the hostname)', (t) => {
  t.true(parse('-h').help);
  t.true(parse('-m', '1m', '-h', 'cmd').help);
  t.true(parse('-ih').help);
});

test('an empty command is one clear error, not an internal one', (t) => {
  fails(t, [''], /^the command is empty/);
  fails(t, ['--', ''], /^the command is empty/);
  fails(t, ['--', ...Array.from({ length: 65537 }, () => 'x')], /^Expected at most 65536 entries for the command but received 65537$/);
});

test('--cpus beyond the CPUs there are says how many there are; --pids-limit is --pids', (t) => {
  fails(
    t,
    ['--cpus', '100', 'cmd'],
    /^Expected a number of CPUs from 0\.01 to \d+ \(there (are only \d+ CPUs|is only 1 CPU)\) for --cpus but received 100$/,
  );
  fails(t, ['--cpus', '0.001', 'cmd'], /for --cpus/);
  t.is(parse('--pids-limit', '32', 'cmd').options.pids, 32);
  t.is(parse('--pids-limit=7', 'cmd').options.pids, 7);
  fails(t, ['--pids-limit', '0', 'cmd'], /for --pids-limit/);
});

test('--result - and --meta - mean stdout', (t) => {
  t.is(parse('--result', '-', 'cmd').output.result, '-');
  t.is(parse('--meta=-', 'cmd').output.meta, '-');
});

test('-q, --quiet', (t) => {
  t.true(parse('-q', 'cmd').output.quiet);
  t.true(parse('--quiet', 'cmd').output.quiet);
});

test('-w refuses .. as the API does (one rule); paths are normalised', (t) => {
  fails(t, ['-w', '/../..', 'cmd'], /^Expected an absolute path without '\.\.' for -w but received "\/\.\.\/\.\."$/);
  t.is(parse('-w', '/a//b/./', 'cmd').options.cwd, '/a/b');
});

test('--hostname follows the API rule', (t) => {
  fails(t, ['--hostname', 'a/b', 'cmd'], /for --hostname but received "a\/b"/);
});

test('docker flags accepted for compatibility: --rm, --init; --volume is -v', (t) => {
  const inv = parse('--rm', '--init', '--volume', '/a:/b', 'cmd');
  t.deepEqual(inv.command, ['cmd']);
  t.deepEqual(inv.options.binds, [{ src: '/a', dst: '/b', rw: false }]);
});

test('docker flags refused name themselves, why, and the nearest supported flag', (t) => {
  fails(t, ['--privileged', 'cmd'], /^--privileged is not supported: .*--seccomp/);
  fails(t, ['-d', 'cmd'], /^-d is not supported: there is no daemon/);
  fails(t, ['-p', '8080:80', 'cmd'], /^-p is not supported: .*--network host/);
  fails(t, ['--cpu-shares', '512', 'cmd'], /^--cpu-shares is not supported: use --cpus N/);
  fails(t, ['--cpuset-mems', '0', 'cmd'], /^--cpuset-mems is not supported: .*--cpuset-cpus/);
  fails(t, ['--read-only', 'cmd'], /^--read-only is not supported: the root is always read-only/);
  fails(t, ['--security-opt=seccomp=unconfined', 'cmd'], /^--security-opt is not supported: use --seccomp/);
});

test('-u, --user UID[:GID]: numeric host ids, never root, only root chooses', (t) => {
  if (process.getuid!() === 0) {
    t.deepEqual(parse('-u', '1000', 'cmd').options.user, { uid: 1000 });
    t.deepEqual(parse('--user=1000:100', 'cmd').options.user, { uid: 1000, gid: 100 });
  } else {
    fails(t, ['-u', '12345', 'cmd'], /only root may choose the host identity/);
  }
  fails(t, ['-u', '0', 'cmd'], /never 0/);
  fails(t, ['-u', '1000:0', 'cmd'], /never 0/);
  fails(t, ['-u', 'alice', 'cmd'], /^Expected a numeric host UID\[:GID\] .* for -u but received "alice"$/);
});

test('--env-file: docker format (comments, blank lines, bare KEY copies), errors name the line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-env-'));
  const file = join(dir, 'env');
  writeFileSync(file, '# comment\n\nA=1\n  B=two words\nC=x=y\nFROM_HOST\nNOT_ON_HOST\nD=\n');
  t.deepEqual(parse('--env-file', file, '-e', 'A=override', 'cmd').options.env, {
    A: 'override',
    B: 'two words',
    C: 'x=y',
    FROM_HOST: 'host value',
    D: '',
  });
  writeFileSync(file, 'A=1\nBAD KEY=2\n');
  fails(t, ['--env-file', file, 'cmd'], /for --env-file .*env line 2 but received "BAD KEY=2"/);
  fails(t, ['--env-file', join(dir, 'missing'), 'cmd'], /^--env-file: cannot read env file ".*missing": No such file or directory$/);
});

test("--mount type=bind|tmpfs in docker's form", (t) => {
  t.deepEqual(parse('--mount', 'type=bind,src=/a,dst=/b', 'cmd').options.binds, [{ src: '/a', dst: '/b', rw: true }]);
  t.deepEqual(parse('--mount', 'type=bind,source=/a,target=/b,readonly', 'cmd').options.binds, [{ src: '/a', dst: '/b', rw: false }]);
  t.deepEqual(parse('--mount', 'type=bind,src=/a,destination=/b,ro=true', 'cmd').options.binds, [{ src: '/a', dst: '/b', rw: false }]);
  t.deepEqual(parse('--mount', 'type=tmpfs,dst=/t,tmpfs-size=1m', 'cmd').options.tmpfs, [{ dst: '/t', size: MiB }]);
  t.deepEqual(parse('--mount', 'type=tmpfs,dst=/t', 'cmd').options.tmpfs, [{ dst: '/t' }]);
  fails(t, ['--mount', 'type=volume,src=v,dst=/v', 'cmd'], /type=bind or type=tmpfs .* for --mount/);
  fails(t, ['--mount', 'type=bind,src=/a', 'cmd'], /dst=DST .* for --mount/);
  fails(t, ['--mount', 'type=bind,dst=/a', 'cmd'], /src=SRC .* for --mount/);
  fails(t, ['--mount', 'type=bind,src=/a,dst=/b,bind-propagation=shared', 'cmd'], /no other keys .* for --mount/);
  fails(t, ['--mount', 'type=bind,src=/a,dst=/b/../c', 'cmd'], /without '\.\.' for --mount/);
});

test("--tmpfs in docker's option form; --shm-size", (t) => {
  t.deepEqual(parse('--tmpfs', '/run:rw,size=64m', 'cmd').options.tmpfs, [{ dst: '/run', size: 64 * MiB }]);
  t.deepEqual(parse('--tmpfs', '/run:rw,nosuid,nodev', 'cmd').options.tmpfs, [{ dst: '/run' }]);
  t.deepEqual(parse('--tmpfs', '/run:rw', 'cmd').options.tmpfs, [{ dst: '/run' }]);
  fails(t, ['--tmpfs', '/run:rw,exec', 'cmd'], /always rw, mode 1777, nosuid, nodev\) for --tmpfs/);
  fails(t, ['--tmpfs', '/run:ro', 'cmd'], /for --tmpfs/);
  t.is(parse('--shm-size', '64m', 'cmd').options.shmSize, 64 * MiB);
  fails(t, ['--shm-size', 'big', 'cmd'], /for --shm-size/);
});

test('--ulimit NAME=SOFT[:HARD]', (t) => {
  t.deepEqual(parse('--ulimit', 'nofile=64:128', '--ulimit', 'core=unlimited', 'cmd').options.ulimits, {
    nofile: { soft: 64, hard: 128 },
    core: { soft: -1, hard: -1 },
  });
  fails(t, ['--ulimit', 'nofile=128:64', 'cmd'], /soft limit no higher than the hard one for --ulimit\.nofile/);
  fails(t, ['--ulimit', 'bogus=1', 'cmd'], /one of cpu, fsize, .* for --ulimit name but received "bogus"/);
  fails(t, ['--ulimit', 'nofile', 'cmd'], /NAME=SOFT\[:HARD\] .* for --ulimit/);
});

test('--memory-swap maps only where it equals --memory (swap included)', (t) => {
  t.is(parse('-m', '64m', '--memory-swap', '64m', 'cmd').options.memory, 64 * MiB);
  fails(t, ['-m', '64m', '--memory-swap', '128m', 'cmd'], /^--memory-swap must equal --memory/);
  fails(t, ['--memory-swap', '128m', 'cmd'], /^--memory-swap needs --memory/);
  fails(t, ['-m', '64m', '--memory-swap', '-1', 'cmd'], /for --memory-swap/);
});

test('exec --help groups its flags and lists every flag, --network among them', async (t) => {
  const { execHelp } = await import('../../lib/cli/help.js');
  const { FLAGS } = await import('../../lib/cli/args.js');
  const text = execHelp();
  for (const group of ['Filesystem:', 'Process:', 'Limits:', 'Input and output:']) t.true(text.includes(`\n${group}\n`), group);
  for (const f of FLAGS) t.true(text.includes(`--${f.long}`), `--${f.long} in help`);
  t.regex(text, /^ {6}--network string +none/m);
  t.regex(text, /^ {2}-h, --help/m);
});
