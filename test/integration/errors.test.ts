// Bad input is a SandboxError with one line naming what is wrong; the program never runs, and
// nothing is left behind. Failures found before launch are thrown by the constructor or reject
// run(); failures inside the sandbox (exec) reject run() with the stage and errno.
import { chmodSync, fstatSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Sandbox, SandboxError, type SandboxOptions } from '../../lib/index.js';
import { scratchDir, settle, snapshot } from '../helpers/host.js';

const box = new Sandbox();

function oneLine(t: ExecutionContext, e: SandboxError | undefined, ...mentions: (string | RegExp)[]): void {
  if (e === undefined) return; // throws/throwsAsync already failed
  t.true(e instanceof SandboxError);
  t.notRegex(e.message, /\n/, 'one line');
  for (const m of mentions) {
    if (typeof m === 'string') t.true(e.message.includes(m), `"${e.message}" should mention ${m}`);
    else t.regex(e.message, m);
  }
}

const construct = (options: unknown) => () => new Sandbox(options as SandboxOptions);

test('a missing rootfs', (t) => {
  const e = t.throws<SandboxError>(construct({ rootfs: '/nonexistent/rootfs' }), { instanceOf: SandboxError });
  oneLine(t, e, 'rootfs', '/nonexistent/rootfs');
  t.is(e?.stage, 'options');
});

test('a rootfs that is a file', (t) => {
  const e = t.throws<SandboxError>(construct({ rootfs: '/etc/hostname' }), { instanceOf: SandboxError });
  oneLine(t, e, 'rootfs', 'not a directory');
});

test('a command that is not found: stage exec, ENOENT', async (t) => {
  for (const argv of [['no-such-command-anywhere'], ['/usr/bin/no-such-command']]) {
    const e = await t.throwsAsync<SandboxError>(box.run(argv), { instanceOf: SandboxError });
    oneLine(t, e, argv[0]!, /no such file or directory/i);
    t.is(e?.stage, 'exec');
    t.is(e?.code, 'ENOENT');
  }
});

test('a file that is not executable: EACCES', async (t) => {
  const dir = scratchDir('noexec');
  t.teardown(dir.remove);
  const file = join(dir.path, 'script.sh');
  writeFileSync(file, '#!/bin/sh\necho ran\n');
  chmodSync(file, 0o644);
  const sb = new Sandbox({ binds: [{ src: dir.path, dst: '/data' }] });
  const e = await t.throwsAsync<SandboxError>(sb.run(['/data/script.sh']), { instanceOf: SandboxError });
  oneLine(t, e, '/data/script.sh', /permission denied/i);
  t.is(e?.stage, 'exec');
  t.is(e?.code, 'EACCES');
  // Control: the same file made executable runs.
  chmodSync(file, 0o755);
  const r = await sb.run(['/data/script.sh']);
  t.is(r.stdout?.toString(), 'ran\n');
});

test('a directory as the command: EACCES', async (t) => {
  const e = await t.throwsAsync<SandboxError>(box.run(['/usr/bin']), { instanceOf: SandboxError });
  oneLine(t, e, '/usr/bin');
  t.is(e?.stage, 'exec');
  t.is(e?.code, 'EACCES');
});

const malformed: [string, unknown, string][] = [
  ['memory: "lots"', { memory: 'lots' }, 'memory'],
  ['cpuQuota: -1', { cpuQuota: -1 }, 'cpuQuota'],
  ['pids: 1.5', { pids: 1.5 }, 'pids'],
  ['cwd: relative', { cwd: 'relative' }, 'cwd'],
  ['binds with a relative dst', { binds: [{ src: '/usr', dst: 'usr' }] }, 'binds[0].dst'],
  ['binds with a relative src', { binds: [{ src: 'usr', dst: '/usr' }] }, 'binds[0].src'],
  ['binds with ".." in dst', { binds: [{ src: '/usr', dst: '/a/../etc' }] }, 'binds[0].dst'],
  ['tmpfs with a bad size', { tmpfs: [{ dst: '/x', size: 'huge' }] }, 'tmpfs[0].size'],
  ['network: "bridge"', { network: 'bridge' }, 'network'],
  ['an unknown option', { bogusOption: 1 }, 'bogusOption'],
  ['env not an object', { env: 'A=1' }, 'env'],
  ['a NUL byte in an env value', { env: { A: 'x\0y' } }, 'env.A'],
  ['a NUL byte in an env name', { env: { 'A\0B': 'x' } }, 'env key'],
  ['a NUL byte in the hostname', { hostname: 'a\0b' }, 'hostname'],
  ['wallTimeLimit: "soon"', { wallTimeLimit: 'soon' }, 'wallTimeLimit'],
  // One rule per option (lib/validate.ts), the CLI's too: checked at construction, not at run time.
  ['cpuQuota beyond the CPUs there are', { cpuQuota: 1e9 }, 'cpuQuota'],
  ['cpuQuota below a 1 ms quota', { cpuQuota: 0.001 }, 'cpuQuota'],
  ['pids: 2**31', { pids: 2 ** 31 }, 'pids'],
  ['hostname "a/b"', { hostname: 'a/b' }, 'hostname'],
  ['cwd with ".."', { cwd: '/../..' }, 'cwd'],
  ['timeLimit as a string (counts and seconds are numbers)', { timeLimit: '1' }, 'timeLimit'],
  ['cpuQuota as a string', { cpuQuota: '0.5' }, 'cpuQuota'],
  ['user root', { user: { uid: 0 } }, 'user.uid'],
  ['ulimits with an unknown name', { ulimits: { bogus: 1 } }, 'ulimits name'],
  ['ulimits soft above hard', { ulimits: { nofile: { soft: 10, hard: 5 } } }, 'ulimits.nofile'],
  ['shmSize: "big"', { shmSize: 'big' }, 'shmSize'],
];
for (const [name, options, option] of malformed) {
  test(`malformed option: ${name}`, (t) => {
    const e = t.throws<SandboxError>(construct(options), { instanceOf: SandboxError });
    oneLine(t, e, option, 'Expected');
    t.is(e?.stage, 'options');
  });
}

test('a cgroupParent that does not exist or is a file is refused at construction', (t) => {
  // The machine has a cgroup filesystem (without one, nothing can be checked, and the run says it fell back).
  for (const dir of ['/nonexistent/cgroup', '/sys/fs/cgroup/cgroup.procs']) {
    const e = t.throws<SandboxError>(construct({ cgroupParent: dir, memory: '64m' }), { instanceOf: SandboxError });
    oneLine(t, e, `cgroupParent ${dir} is not an existing cgroup`);
    t.is(e?.stage, 'options');
  }
});

test('NUL bytes in argv, per-run env and run options are rejected before anything starts', async (t) => {
  const cases: [Promise<unknown>, string][] = [
    [box.run(['echo', 'a\0b']), 'argv[1]'],
    [box.run(['ec\0ho']), 'argv[0]'],
    [box.run(['env'], { env: { A: 'x\0y' } }), 'runOptions.env.A'],
    [box.run(['true'], { cwd: '/tm\0p' }), 'runOptions.cwd'],
    [box.run(['true'], { stdin: { file: '/etc/\0hostname' } }), 'stdin.file'],
    [box.run([]), 'argv'],
    [box.run(['true'], { bogus: 1 } as never), 'runOptions.bogus'],
    [box.run(['true'], { stdin: { file: '/nonexistent/input' } }), 'cannot open stdin file /nonexistent/input: No such file or directory'],
    [box.run(['']), 'argv[0]'],
    [box.run(Array.from({ length: 65537 }, () => 'x')), 'at most 65536 entries for argv'],
  ];
  for (const [p, option] of cases) {
    const e = await t.throwsAsync<SandboxError>(p as Promise<never>, { instanceOf: SandboxError });
    oneLine(t, e, option);
  }
  t.throws(() => box.spawn(['a\0b']), { instanceOf: SandboxError, message: /argv\[0\]/ });
});

test.serial('nothing leaks after failed runs: fds, children', async (t) => {
  await box.run(['true']); // the addon and its once-per-process fds are loaded
  const before = snapshot();
  for (let i = 0; i < 10; i++) {
    await t.throwsAsync(box.run(['no-such-command']), { instanceOf: SandboxError });
    await t.throwsAsync(box.run(['/usr/bin']), { instanceOf: SandboxError });
    await t.throwsAsync(box.run(['echo', '\0']), { instanceOf: SandboxError });
    await t.throwsAsync(box.run(['cat'], { stdin: 'input', stdout: { file: '/nonexistent/dir/out' } }), { instanceOf: SandboxError });
  }
  const after = await settle(before);
  // At most as many: a leak adds fds; the test runner's own (tsx's cache, Node 22 and later) may
  // close one that was open at the first count.
  t.true(after.fds <= before.fds, `no fd left open: ${before.fds} → ${after.fds}`);
  t.deepEqual(after.children, before.children, 'no child process left');
  t.deepEqual(after.mounts, before.mounts);
});

test.serial('a failed exec does not close fds that now belong to someone else', async (t) => {
  // The run's pipe ends are closed in this process right after launch; their numbers are free
  // again and the next open takes one of them. The run's failure must not close them twice.
  const failing = box.run(['no-such-command'], { stdin: 'some input' });
  const reused = [openSync('/dev/null', 'r'), openSync('/dev/null', 'r'), openSync('/dev/null', 'r')];
  t.teardown(() => {
    for (const fd of reused) closeSync(fd);
  });
  await t.throwsAsync(failing, { instanceOf: SandboxError });
  for (const fd of reused) t.notThrows(() => fstatSync(fd), `fd ${fd} is still open`);
});

test('a failed run next to a running one leaves the running one intact', async (t) => {
  // The running sandbox's pipes are created while the failing one's are being closed.
  const runs = [];
  for (let i = 0; i < 8; i++) {
    runs.push(box.run(['cat'], { stdin: `payload ${i}\n` }).then((r) => r.stdout?.toString()));
    runs.push(
      box.run(['no-such-command'], { stdin: 'x' }).then(
        () => 'ran',
        (e: unknown) => (e instanceof SandboxError ? e.code : String(e)),
      ),
    );
  }
  const out = await Promise.all(runs);
  t.deepEqual(out, Array.from({ length: 8 }, (_, i) => [`payload ${i}\n`, 'ENOENT']).flat());
});
