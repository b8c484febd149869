// What a sandboxed command can see of the host: processes, hostname, network, files,
// environment, file descriptors. Every check runs the real sandbox, as root and rootless
// (test/helpers/run-rootless.js), and most have a control that shows the probe can see the
// thing when it is there.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readlinkSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Sandbox } from '../../lib/index.js';
import { childrenOf, idsOf, isRoot, sandboxHostUid, scratchDir, text } from '../helpers/host.js';

const box = new Sandbox();
const readlinkHostNet = () => readlinkSync('/proc/self/ns/net');

test('pid 1 is sandbox-init, the command is pid 2, and no host process is visible', async (t) => {
  // Only shell builtins: the listing is not disturbed by a process of its own.
  const script = [
    'echo "self $$"',
    'for p in /proc/[0-9]*; do',
    '  n=${p#/proc/}',
    '  read -r stat < "$p/stat"',
    '  echo "pid $n ${stat#* }"',
    'done',
  ].join('\n');
  const r = await box.run(['sh', '-c', script]);
  t.is(r.outcome, 'ok', text(r.stderr));
  const lines = text(r.stdout).trim().split('\n');
  t.is(lines[0], 'self 2', 'the command is pid 2');
  const pids = lines.slice(1).map((l) => Number(l.split(' ')[1]));
  t.deepEqual(pids, [1, 2], 'only init and the command exist in the sandbox');
  t.regex(lines[1]!, /^pid 1 \(sandbox-init\) /);
  t.regex(lines[2]!, /^pid 2 \(sh\) /);

  const cmdline = await box.run(['cat', '/proc/1/cmdline']);
  t.is(text(cmdline.stdout), 'sandbox-init\0');
  // The test's own pid exists on the host, and is not the sandbox's business.
  t.true(existsSync(`/proc/${process.pid}`), 'control: the host shows this process');
  const mine = await box.run(['sh', '-c', `test -e /proc/${process.pid}/cmdline && echo visible || echo hidden`]);
  t.is(text(mine.stdout), 'hidden\n');
});

test('`ps` inside lists only the sandbox', async (t) => {
  const r = await box.run(['ps', '-e', '-o', 'pid=,comm=']);
  t.is(r.outcome, 'ok', text(r.stderr));
  const rows = text(r.stdout)
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  t.deepEqual(
    rows.map(([, comm]) => comm),
    ['sandbox-init', 'ps'],
  );
  t.deepEqual(rows.map(([pid]) => Number(pid)).slice(0, 2), [1, 2]);
});

test('the command never runs as host root: its host ids are the caller (rootless) or 65534 (root)', async (t) => {
  const h = box.spawn(['sh', '-c', 'echo ready; read line'], { stdin: 'pipe', stdout: 'pipe', stderr: 'ignore' });
  const ready = new Promise<void>((resolve) => h.stdout!.once('data', () => resolve()));
  await ready;
  const command = childrenOf(h.pid);
  t.is(command.length, 1, 'init has exactly one child, the command');
  t.deepEqual(idsOf(command[0]!, 'Uid'), [sandboxHostUid, sandboxHostUid, sandboxHostUid, sandboxHostUid]);
  t.deepEqual(idsOf(h.pid, 'Uid')[0], sandboxHostUid, 'init too is not host root');
  h.stdin!.end('\n');
  const r = await h.result;
  t.is(r.outcome, 'ok');
});

test('hostname is "sandbox" by default, can be set, and the host keeps its own', async (t) => {
  const before = hostname();
  const d = await box.run(['hostname']);
  t.is(text(d.stdout), 'sandbox\n');
  const custom = await new Sandbox({ hostname: 'box-7' }).run([
    'sh',
    '-c',
    'hostname; cat /etc/hostname; hostname renamed 2>/dev/null; echo $?',
  ]);
  const [name, file, renameStatus] = text(custom.stdout).trim().split('\n');
  t.is(name, 'box-7');
  t.is(file, 'box-7');
  t.not(renameStatus, '0', 'the command cannot change the hostname');
  t.is(hostname(), before, 'the host name did not change');
  t.not(before, 'box-7');
});

test.serial('network none: a listener on the host loopback is unreachable; network host reaches it (control)', async (t) => {
  let accepted = 0;
  const server = createServer((sock) => {
    accepted++;
    sock.end('hello from host\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.teardown(() => server.close());
  const probe = [
    'python3',
    '-c',
    [
      'import socket, sys',
      's = socket.socket()',
      's.settimeout(5)',
      'try:',
      `    s.connect(("127.0.0.1", ${port}))`,
      '    print("connected", s.recv(100).decode().strip())',
      'except OSError as e:',
      '    print("refused", e.errno)',
    ].join('\n'),
  ];
  const none = await new Sandbox({ network: 'none' }).run(probe);
  t.is(none.outcome, 'ok', text(none.stderr));
  t.regex(text(none.stdout), /^refused \d+/);
  t.is(accepted, 0);

  const ifaces = await new Sandbox().run(['sh', '-c', 'cat /proc/net/dev']);
  const names = text(ifaces.stdout)
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean);
  t.deepEqual(names, ['lo'], 'only loopback in the default network namespace');

  const host = await new Sandbox({ network: 'host' }).run(probe);
  t.is(host.outcome, 'ok', text(host.stderr));
  t.is(text(host.stdout), 'connected hello from host\n');
  t.is(accepted, 1);
});

// Network namespaces are lent from a pool (lib/netns-pool.ts, root callers) and reused only
// when the sandbox that had one left nothing in it. Rootless, each init makes its own: the same
// checks hold.
test.serial('network none: a sandbox never sees what an earlier one left in its network namespace', async (t) => {
  const sockstat = ['cat', '/proc/net/sockstat'];
  // A connection closed by its client side leaves a TIME_WAIT entry behind in the namespace,
  // and a listener the kernel keeps until it is closed.
  const leave = [
    'python3',
    '-c',
    [
      'import socket',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()',
      'c = socket.create_connection(s.getsockname()); a, _ = s.accept()',
      'c.close(); a.recv(1); a.close()',
      'print(open("/proc/net/sockstat").read())',
    ].join('\n'),
  ];
  const box = new Sandbox();
  for (let i = 0; i < 5; i++) {
    const dirty = await box.run(leave);
    t.is(dirty.outcome, 'ok', text(dirty.stderr));
    t.regex(text(dirty.stdout), /tw [1-9]/, 'the probe does leave a TIME_WAIT entry (control)');
    // The namespace is back in the pool when the run has settled, and the last one back is the next
    // one lent: without init's check, `next` would get this one with its TIME_WAIT entry.
    const next = await box.run(sockstat);
    t.regex(text(next.stdout), /^sockets: used 0$/m);
    t.regex(text(next.stdout), /\btw 0\b/, 'no TIME_WAIT entry from the run before');
  }
});

test('network none: sandboxes running at once never share a network namespace, and loopback is up in each', async (t) => {
  const box = new Sandbox();
  // Each holds its namespace while the others start.
  const probe = ['sh', '-c', 'readlink /proc/self/ns/net; sleep 0.3'];
  for (let round = 0; round < 3; round++) {
    const runs = await Promise.all(Array.from({ length: 6 }, () => box.run(probe)));
    const ids = runs.map((r) => text(r.stdout).split('\n')[0]!);
    for (const r of runs) t.is(r.outcome, 'ok', text(r.stderr));
    t.is(new Set(ids).size, ids.length, `six concurrent sandboxes, six namespaces: ${ids.join(' ')}`);
    t.false(ids.includes(readlinkHostNet()), 'not the host namespace');
  }
  const lo = await box.run([
    'python3',
    '-c',
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); socket.create_connection(s.getsockname()); print("ok")',
  ]);
  t.is(text(lo.stdout), 'ok\n', text(lo.stderr));
});

// Only a root caller has a pool of namespaces to lose.
(isRoot ? test : test.skip)('a process that gives up root after its first runs still gets a network namespace of its own', async (t) => {
  // The pool's namespaces were made while root; as uid 65534 this process may not enter them.
  const script = [
    `import { Sandbox } from ${JSON.stringify(join(import.meta.dirname, '../../lib/index.ts'))};`,
    "import { readlinkSync } from 'node:fs';",
    'const box = new Sandbox();',
    "for (let i = 0; i < 4; i++) await box.run(['true']);",
    'process.setgid(65534); process.setuid(65534);',
    "const r = await box.run(['readlink', '/proc/self/ns/net']);",
    "console.log(r.outcome, r.stdout.toString().trim() !== readlinkSync('/proc/self/ns/net'));",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: import.meta.dirname,
  });
  t.is(r.stdout.trim(), 'ok true', r.stderr);
});

test('host files outside the rootfs are invisible', async (t) => {
  const secret = scratchDir('secret');
  t.teardown(secret.remove);
  writeFileSync(join(secret.path, 'file'), 'x');
  const paths = ['/root', '/work', '/home', '/etc/shadow', '/var', '/opt', '/srv', secret.path, process.cwd(), '/proc/1/root/etc/shadow'];
  for (const p of ['/root', '/home', '/etc/shadow', '/var', secret.path, process.cwd()]) {
    t.true(existsSync(p) || lstatSync(p, { throwIfNoEntry: false }) !== undefined, `control: ${p} exists on the host`);
  }
  const r = await box.run([
    'sh',
    '-c',
    'for p in "$@"; do if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi; done',
    'sh',
    ...paths,
  ]);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.deepEqual(
    text(r.stdout).trim().split('\n'),
    paths.map((p) => `absent ${p}`),
  );
  // Control: the same probe sees what the rootfs does have.
  const c = await box.run(['sh', '-c', 'for p in /usr/bin/env /etc/passwd /tmp /proc/self; do [ -e $p ] && echo present; done']);
  t.is(text(c.stdout), 'present\n'.repeat(4));
  // /etc/passwd is the sandbox's own, not the host's.
  const passwd = await box.run(['cat', '/etc/passwd']);
  t.deepEqual(
    text(passwd.stdout)
      .trim()
      .split('\n')
      .map((l) => l.split(':')[0]),
    ['root', 'sandbox', 'nobody'],
  );
});

test('read-only binds are readable but not writable', async (t) => {
  const dir = scratchDir('ro', 0o777);
  t.teardown(dir.remove);
  writeFileSync(join(dir.path, 'in.txt'), 'from host\n', { mode: 0o666 });
  const r = await new Sandbox({ binds: [{ src: dir.path, dst: '/data' }] }).run([
    'sh',
    '-c',
    'cat /data/in.txt; echo x > /data/new.txt; echo "create $?"; echo y >> /data/in.txt; echo "append $?"; rm /data/in.txt; echo "rm $?"',
  ]);
  t.is(r.outcome, 'ok');
  const out = text(r.stdout).split('\n');
  t.is(out[0], 'from host', 'the bind is readable');
  t.not(out[1], 'create 0');
  t.not(out[2], 'append 0');
  t.not(out[3], 'rm 0');
  t.regex(text(r.stderr), /Read-only file system/);
  t.deepEqual(readdirSync(dir.path), ['in.txt']);
  t.is(readFileSync(join(dir.path, 'in.txt'), 'utf8'), 'from host\n');
});

test('rw binds are writable; what the command creates is owned on the host by the invoking user (65534 for root)', async (t) => {
  const dir = scratchDir('rw', 0o777);
  t.teardown(dir.remove);
  const r = await new Sandbox({ binds: [{ src: dir.path, dst: '/data', rw: true }] }).run([
    'sh',
    '-c',
    'echo made inside > /data/out.txt && mkdir /data/sub && stat -c "%u %g" /data/out.txt',
  ]);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), '1000 1000\n', 'inside, the file belongs to the sandbox user');
  const file = join(dir.path, 'out.txt');
  t.is(readFileSync(file, 'utf8'), 'made inside\n');
  const st = statSync(file);
  t.is(st.uid, sandboxHostUid, isRoot ? 'a root caller maps the sandbox to nobody' : 'a rootless caller owns the file');
  t.not(st.uid, 0);
  t.true(statSync(join(dir.path, 'sub')).isDirectory());
});

test('the whole root is read-only except /tmp, and /tmp is a fresh tmpfs each run', async (t) => {
  const r = await box.run([
    'sh',
    '-c',
    'touch /usr/x 2>/dev/null; echo "usr $?"; touch /x 2>/dev/null; echo "root $?"; ls -A /tmp; echo data > /tmp/f && echo "tmp $?"',
  ]);
  t.is(text(r.stdout), 'usr 1\nroot 1\ntmp 0\n', 'nothing left in /tmp from other runs, and it is writable');
  const again = await box.run(['ls', '-A', '/tmp']);
  t.is(text(again.stdout), '', 'the file from the previous run is gone');
});

test('the host environment is not inherited', async (t) => {
  process.env.SECRET_TEST_VAR = 'host-secret-value';
  t.teardown(() => delete process.env.SECRET_TEST_VAR);
  const r = await box.run(['env']);
  t.is(r.outcome, 'ok');
  const env = text(r.stdout).trim().split('\n').sort();
  t.deepEqual(env, ['HOME=/tmp', 'PATH=/usr/local/bin:/usr/bin:/bin']);
  t.notRegex(text(r.stdout), /host-secret-value/);
  const withEnv = await new Sandbox({ env: { ADDED: 'yes' } }).run(['env']);
  t.deepEqual(text(withEnv.stdout).trim().split('\n').sort(), ['ADDED=yes', 'HOME=/tmp', 'PATH=/usr/local/bin:/usr/bin:/bin']);
});

test('only fds 0, 1 and 2 reach the command', async (t) => {
  const dir = scratchDir('fds');
  t.teardown(dir.remove);
  const extra = openSync(join(dir.path, 'held-open'), 'w');
  t.teardown(() => closeSync(extra));
  t.true(extra > 2);
  const r = await box.run(['ls', '-l', '/proc/self/fd']);
  t.is(r.outcome, 'ok', text(r.stderr));
  const entries = text(r.stdout)
    .trim()
    .split('\n')
    .slice(1) // "total 0"
    .map((l) => {
      const m = / (\d+) -> (.*)$/.exec(l);
      return m === null ? l : `${m[1]} ${m[2]}`;
    });
  t.is(entries.length, 4, entries.join('; '));
  t.deepEqual(
    entries.slice(0, 3).map((e) => e.split(' ')[0]),
    ['0', '1', '2'],
  );
  // The fourth is ls's own handle on the directory it lists.
  t.regex(entries[3]!, /^3 \/proc\/\d+\/fd$/);
  t.notRegex(text(r.stdout), /held-open|memfd|sandbox-init/);
  // And the shell's own table, without a listing process: only 0-2.
  const sh = await box.run([
    'sh',
    '-c',
    'for f in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -e /proc/$$/fd/$f ] && printf "%s " $f; done; echo',
  ]);
  t.is(text(sh.stdout), '0 1 2 \n');
});

/** A rootfs directory with nothing but mount points, /usr bound from the host and merged-/usr links. */
function makeRootfs(path: string): void {
  for (const d of ['usr', 'proc', 'dev', 'tmp']) mkdirSync(join(path, d), { mode: 0o755 });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${l}`, join(path, l));
  writeFileSync(join(path, 'marker'), 'in the rootfs\n', { mode: 0o644 });
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const st = lstatSync(join(d, name));
      out.push(`${rel}${name} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(join(d, name), `${rel}${name}/`);
    }
  };
  walk(dir, '');
  return out;
}

test('a directory rootfs: its files, the host /usr bound in, read-only', async (t) => {
  const rootfs = scratchDir('rootfs');
  t.teardown(rootfs.remove);
  makeRootfs(rootfs.path);
  const before = listTree(rootfs.path);
  const sb = new Sandbox({ rootfs: rootfs.path, binds: [{ src: '/usr', dst: '/usr' }] });
  const r = await sb.run([
    '/bin/sh',
    '-c',
    'cat /marker; echo $(ls /); touch /new 2>/dev/null; echo "write $?"; echo t > /tmp/t && echo "tmp $?"; cat /proc/1/cmdline',
  ]);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), 'in the rootfs\nbin dev lib lib64 marker proc sbin tmp usr\nwrite 1\ntmp 0\nsandbox-init\0');
  t.deepEqual(listTree(rootfs.path), before, 'the rootfs on disk did not change');
});

test('bind targets missing from a directory rootfs are created without changing it on disk', async (t) => {
  const rootfs = scratchDir('rootfs-missing');
  const data = scratchDir('data');
  t.teardown(rootfs.remove);
  t.teardown(data.remove);
  makeRootfs(rootfs.path);
  writeFileSync(join(data.path, 'payload'), 'bound\n', { mode: 0o644 });
  const before = listTree(rootfs.path);
  const sb = new Sandbox({
    rootfs: rootfs.path,
    binds: [
      { src: '/usr', dst: '/usr' },
      { src: data.path, dst: '/deep/er/data' },
      { src: join(data.path, 'payload'), dst: '/etc/single-file' },
    ],
    tmpfs: [{ dst: '/scratch' }],
    cwd: '/deep/er/data',
  });
  const r = await sb.run([
    '/bin/sh',
    '-c',
    'pwd; cat /deep/er/data/payload /etc/single-file; touch /scratch/ok && echo scratch-ok; touch /deep/x 2>/dev/null || echo ro',
  ]);
  t.is(r.outcome, 'ok', text(r.stderr));
  t.is(text(r.stdout), '/deep/er/data\nbound\nbound\nscratch-ok\nro\n');
  t.deepEqual(listTree(rootfs.path), before, 'no mount point was made in the rootfs on disk');
  t.false(existsSync(join(rootfs.path, 'deep')));
  t.false(existsSync(join(rootfs.path, 'etc')));
});
