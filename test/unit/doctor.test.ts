// sandbox doctor's parsers and decisions, on injected file contents and probe results (no kernel needed).
import test from 'ava';
import { parseMountinfo, parseProcCgroup } from '../../lib/cgroup/proc.js';
import { runDoctor } from '../../lib/cli/doctor.js';
import { detectLayout } from '../../lib/cgroup/detect.js';
import { detectCgroup } from '../../lib/doctor/cgroup.js';
import { detectContainer } from '../../lib/doctor/container.js';
import { diagnose, formatReport, type Check, type DoctorReport, type ProbeResult, type System } from '../../lib/doctor/index.js';
import { parseRelease, parseSubids, versionAtLeast } from '../../lib/doctor/parse.js';
import { MOUNT_ARGS, NAMESPACE_ARGS, PER_NAMESPACE_ARGS, PROC_ARGS, SYSCALL_SCRIPT } from '../../lib/doctor/probes.js';

// ---- machines -------------------------------------------------------------------------------------------

// This project's CI host: v1 controllers plus an empty cgroup2 tree (systemd's hybrid layout).
const HYBRID_MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/70b9
2:cpuacct:/
1:cpu:/
0::/
`;

// A systemd distribution with cgroup v2 only (what the VM imitates).
const V2_MOUNTINFO = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const USER_SCOPE = '/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope';
const USER_DIR = `/sys/fs/cgroup${USER_SCOPE}`;

// Docker 24 on a v2 host: overlay root, masked /proc paths, read-only private cgroup namespace.
const DOCKER_MOUNTINFO = `600 500 0:50 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
601 600 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
602 601 0:5 /null /proc/kcore rw,nosuid - devtmpfs udev rw,size=4k
603 601 0:58 / /proc/acpi ro,relatime - tmpfs tmpfs ro
604 601 0:55 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
610 600 0:57 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate
`;

interface Probe {
  status?: number;
  stdout?: string;
  stderr?: string;
}
const ok: Probe = { status: 0 };
const SYSCALLS_OK: Probe = { status: 0, stdout: '435=22 434=22 436=22 ' };

interface Machine {
  /** File contents; null hides a file of the base machine. */
  files?: Record<string, string | null>;
  links?: Record<string, string>;
  /** Paths access(W_OK) allows. */
  writable?: string[];
  /** Executable files; setuid root when listed in `setuid` too. */
  bins?: string[];
  setuid?: string[];
  uid?: number;
  release?: string;
  env?: Record<string, string>;
  probes?: {
    namespaces?: Probe;
    perNamespace?: Record<string, Probe>;
    proc?: Probe;
    mounts?: Probe;
    syscalls?: Probe;
  };
}

const BASE_FILES: Record<string, string> = {
  '/proc/self/status': 'Name:\tnode\nSeccomp:\t0\nSeccomp_filters:\t0\n',
  '/proc/sys/kernel/seccomp/actions_avail': 'kill_process kill_thread trap errno user_notif trace log allow',
  '/proc/sys/user/max_user_namespaces': '63000\n',
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\ntester:x:1000:1000::/home/tester:/bin/bash\n',
};
const INITIAL_NS = { '/proc/self/ns/user': 'user:[4026531837]', '/proc/self/ns/pid': 'pid:[4026531836]' };

/** A fake machine: files, links, writable paths, binaries and canned probe results. */
function machine(m: Machine): System & { calls: string[][] } {
  const files: Record<string, string | null> = { ...BASE_FILES, ...m.files };
  const bins = new Set(m.bins ?? ['/usr/bin/unshare', '/usr/bin/perl']);
  const setuid = new Set(m.setuid ?? []);
  const calls: string[][] = [];
  const result = (p: Probe | undefined, fallback: Probe): ProbeResult => {
    const r = p ?? fallback;
    return { status: r.status ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: null };
  };
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  return {
    calls,
    uid: m.uid ?? 1000,
    gid: m.uid ?? 1000,
    release: m.release ?? '6.1.0-50-amd64',
    machine: 'x86_64',
    arch: 'x64',
    execPath: '/usr/bin/node',
    env: { PATH: '/usr/bin:/bin', ...m.env },
    readFile: (p) => files[p] ?? null,
    readlink: (p) => ({ ...INITIAL_NS, ...m.links })[p] ?? null,
    stat: (p) => {
      if (bins.has(p)) return { mode: 0o100755 | (setuid.has(p) ? 0o4000 : 0), uid: 0, isDirectory: false };
      if (files[p] != null) return { mode: 0o100644, uid: 0, isDirectory: false };
      return null;
    },
    writable: (p) => (m.writable ?? []).includes(p),
    run: async (cmd, args) => {
      calls.push([cmd, ...args]);
      const pr = m.probes ?? {};
      if (cmd.endsWith('/perl')) return result(pr.syscalls, SYSCALLS_OK);
      if (same(args, NAMESPACE_ARGS)) return result(pr.namespaces, ok);
      if (same(args, PROC_ARGS)) return result(pr.proc, ok);
      if (same(args, MOUNT_ARGS)) return result(pr.mounts, ok);
      for (const [name, a] of Object.entries(PER_NAMESPACE_ARGS)) {
        if (same(args, a)) return result(pr.perNamespace?.[name], ok);
      }
      return result(undefined, { status: 127, stderr: `unexpected probe ${cmd} ${args.join(' ')}` });
    },
  };
}

const hybridRoot = (extra: Machine = {}): Machine => ({
  uid: 0,
  ...extra,
  files: {
    '/proc/self/mountinfo': HYBRID_MOUNTINFO,
    '/proc/self/cgroup': HYBRID_CGROUP,
    '/sys/fs/cgroup/unified/cgroup.controllers': 'hugetlb\n',
    '/sys/fs/cgroup/unified/cgroup.subtree_control': '\n',
    '/.dockerenv': '',
    ...extra.files,
  },
  writable: extra.writable ?? [
    '/sys/fs/cgroup/cpu',
    '/sys/fs/cgroup/cpu/cgroup.procs',
    '/sys/fs/cgroup/cpuacct',
    '/sys/fs/cgroup/cpuacct/cgroup.procs',
    '/sys/fs/cgroup/memory/process_api/70b9',
    '/sys/fs/cgroup/memory/process_api/70b9/cgroup.procs',
    '/sys/fs/cgroup/pids',
    '/sys/fs/cgroup/pids/cgroup.procs',
    '/sys/fs/cgroup/unified',
    '/sys/fs/cgroup/unified/cgroup.procs',
    '/sys/fs/cgroup/unified/cgroup.subtree_control',
  ],
});

const v2User = (extra: Machine = {}): Machine => ({
  uid: 1000,
  ...extra,
  files: {
    '/proc/self/mountinfo': V2_MOUNTINFO,
    '/proc/self/cgroup': `0::${USER_SCOPE}\n`,
    [`${USER_DIR}/cgroup.controllers`]: 'cpu memory pids\n',
    [`${USER_DIR}/cgroup.subtree_control`]: '\n',
    [`${USER_DIR}/memory.peak`]: '0\n',
    [`${USER_DIR}/cgroup.kill`]: '',
    '/etc/subuid': 'tester:100000:65536\n',
    '/etc/subgid': 'tester:100000:65536\n',
    ...extra.files,
  },
  writable: extra.writable ?? [USER_DIR, `${USER_DIR}/cgroup.procs`, `${USER_DIR}/cgroup.subtree_control`],
});

const byId = (r: DoctorReport, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no check ${id}`);
  return c;
};

// ---- parsers ---------------------------------------------------------------------------------------------

test('parseMountinfo reads optional fields, super options and octal escapes', (t) => {
  const [m] = parseMountinfo('36 35 98:0 /mnt\\040dir /a\\011b rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n');
  t.is(m.root, '/mnt dir');
  t.is(m.mountPoint, '/a\tb');
  t.is(m.fsType, 'ext3');
  t.deepEqual(m.superOptions, ['rw', 'errors=continue']);
  t.deepEqual(parseMountinfo('garbage\n\n'), []);
});

test('parseProcCgroup splits v1 controller lists and keeps the v2 line', (t) => {
  const lines = parseProcCgroup('4:cpu,cpuacct:/user.slice\n1:name=systemd:/x\n0::/a:b\n');
  t.deepEqual(lines[0], { hierarchyId: 4, controllers: ['cpu', 'cpuacct'], path: '/user.slice' });
  t.deepEqual(lines[2], { hierarchyId: 0, controllers: [], path: '/a:b' });
});

test('kernel versions compare by major and minor', (t) => {
  t.deepEqual(parseRelease('6.18.44-fc-v782'), [6, 18, 44]);
  t.deepEqual(parseRelease('5.4'), [5, 4, 0]);
  t.is(parseRelease('weird'), null);
  t.true(versionAtLeast('5.10.0-28-amd64', [5, 9]));
  t.false(versionAtLeast('5.4.0-150-generic', [5, 9]));
  t.true(versionAtLeast('6.1.0', [5, 19]));
  t.is(versionAtLeast('x', [5, 3]), null);
});

test('parseSubids matches the user by name or uid', (t) => {
  const text = '# comment\nalice:100000:65536\n1001:200000:65536\nbob:300000:0\n';
  t.deepEqual(parseSubids(text, 'alice', 1000), [{ start: 100000, count: 65536 }]);
  t.deepEqual(parseSubids(text, 'carol', 1001), [{ start: 200000, count: 65536 }]);
  t.deepEqual(parseSubids(text, 'bob', 1002), []);
  t.deepEqual(parseSubids(null, 'alice', 1000), []);
});

// ---- cgroups ---------------------------------------------------------------------------------------------

test('hybrid host as root: cgroup v1 children in cpu cpuacct memory pids', async (t) => {
  const r = await diagnose(machine(hybridRoot()));
  t.is(r.cgroup.mode, 'hybrid');
  t.is(r.cgroup.enforcement, 'cgroup1');
  t.is(r.cgroup.v2Mount, '/sys/fs/cgroup/unified');
  t.deepEqual(r.cgroup.v2Controllers, ['hugetlb']);
  t.is(r.cgroup.v1.find((c) => c.controller === 'memory')?.dir, '/sys/fs/cgroup/memory/process_api/70b9');
  t.is(byId(r, 'cgroup-limits').status, 'ok');
  t.is(byId(r, 'memory_peak').status, 'info');
  t.regex(byId(r, 'memory_peak').detail, /max_usage_in_bytes/);
  t.is(r.exitCode, 0);
});

test('rootless on cgroup v1: rlimit fallback, --require-cgroup would fail, still exit 0', async (t) => {
  const r = await diagnose(machine(hybridRoot({ uid: 1000, writable: [] })));
  const c = byId(r, 'cgroup-limits');
  t.is(r.cgroup.enforcement, 'rlimit');
  t.is(c.status, 'warn');
  t.false(c.neededByDefaults);
  t.regex(c.detail, /enforcement: rlimit/);
  t.regex(c.detail, /--require-cgroup/);
  t.regex(c.fix ?? '', /systemd-run --user --scope -p Delegate=yes/);
  t.is(r.exitCode, 0);
});

test('pure v1 (no cgroup2 mount) is v1, co-mounted controllers resolved; one unwritable hierarchy means rlimits, as the runtime does', async (t) => {
  const mountinfo = `1 0 0:1 / / rw - ext4 /dev/sda rw
2 1 0:2 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
3 1 0:3 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
4 1 0:4 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
`;
  const sys = machine({
    uid: 0,
    files: { '/proc/self/mountinfo': mountinfo, '/proc/self/cgroup': '5:pids:/u\n3:memory:/u\n2:cpu,cpuacct:/u\n' },
    writable: ['/sys/fs/cgroup/memory/u', '/sys/fs/cgroup/memory/u/cgroup.procs'],
  });
  const cg = detectCgroup(sys);
  t.is(cg.mode, 'v1');
  t.is(cg.limitsOn, 'cgroup1');
  t.is(cg.v1.find((c) => c.controller === 'cpuacct')?.dir, '/sys/fs/cgroup/cpu,cpuacct/u');
  // lib/cgroup/v1.ts makes a child in every hierarchy or uses none: memory alone is not enough.
  t.is(cg.enforcement, 'rlimit');
  const r = await diagnose(sys);
  t.is(byId(r, 'cgroup-limits').status, 'warn');
  t.is(byId(r, 'cgroup-limits').detail.split(';')[0], 'cgroup1: cannot write /sys/fs/cgroup/cpu,cpuacct/u, /sys/fs/cgroup/pids/u');
  const all = detectCgroup(
    machine({
      uid: 0,
      files: { '/proc/self/mountinfo': mountinfo, '/proc/self/cgroup': '5:pids:/u\n3:memory:/u\n2:cpu,cpuacct:/u\n' },
      writable: ['/sys/fs/cgroup/memory/u', '/sys/fs/cgroup/pids/u', '/sys/fs/cgroup/cpu,cpuacct/u'].flatMap((d) => [
        d,
        `${d}/cgroup.procs`,
      ]),
    }),
  );
  t.is(all.enforcement, 'cgroup1');
});

test('doctor decides the cgroup version as the runtime does (lib/cgroup/detect.ts), not by its own rules', (t) => {
  // cgroup_no_v1=memory,pids: v1 keeps cpu and cpuacct, memory and pids are on the cgroup2 mount
  // beside them. The runtime puts the limits on v2 (a required controller is on v2 only).
  const mountinfo = `1 0 0:1 / / rw - ext4 /dev/sda rw
2 1 0:2 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
3 1 0:3 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`;
  const procCgroup = '2:cpu,cpuacct:/\n0::/svc\n';
  const sys = machine({
    uid: 0,
    files: {
      '/proc/self/mountinfo': mountinfo,
      '/proc/self/cgroup': procCgroup,
      '/sys/fs/cgroup/unified/svc/cgroup.controllers': 'memory pids\n',
      '/sys/fs/cgroup/unified/svc/cgroup.subtree_control': 'memory pids\n',
    },
    writable: [
      '/sys/fs/cgroup/unified/svc',
      '/sys/fs/cgroup/unified/svc/cgroup.procs',
      '/sys/fs/cgroup/unified/svc/cgroup.subtree_control',
    ],
  });
  const runtime = detectLayout(mountinfo, procCgroup).layout;
  const cg = detectCgroup(sys);
  t.is(runtime?.mode, 'cgroup2');
  t.is(cg.mode, 'hybrid');
  t.is(cg.limitsOn, runtime?.mode);
  t.is(cg.v2Dir, '/sys/fs/cgroup/unified/svc');
  t.is(cg.enforcement, 'cgroup2');
  t.deepEqual(cg.v1, []);
});

test("cgroups mounted but unusable: the runtime's reason, and rlimits", async (t) => {
  // A v1 host with no pids hierarchy: detectLayout refuses it, so does the doctor.
  const sys = machine({
    uid: 0,
    files: {
      '/proc/self/mountinfo': `1 0 0:1 / / rw - ext4 /dev/sda rw
2 1 0:2 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
3 1 0:3 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`,
      '/proc/self/cgroup': '3:memory:/\n2:cpu,cpuacct:/\n',
    },
    writable: ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/memory/cgroup.procs'],
  });
  const r = await diagnose(sys);
  t.is(r.cgroup.limitsOn, null);
  t.is(r.cgroup.enforcement, 'rlimit');
  t.regex(r.cgroup.unavailable ?? '', /no hierarchy with the pids controller/);
  t.regex(byId(r, 'cgroup-limits').detail, /^cgroup v1: no hierarchy with the pids controller is mounted; limits fall back to rlimits/);
});

test('v2 delegated user scope: cgroup2 with cpu memory pids, v2 features found by file', async (t) => {
  const r = await diagnose(machine(v2User()));
  t.is(r.cgroup.mode, 'v2');
  t.is(r.cgroup.enforcement, 'cgroup2');
  t.is(r.cgroup.v2Dir, USER_DIR);
  t.is(byId(r, 'cgroup-limits').status, 'ok');
  t.regex(byId(r, 'cgroup-limits').detail, /delegated; controllers cpu memory pids/);
  t.regex(byId(r, 'memory_peak').detail, /present in the caller's cgroup/);
  t.regex(byId(r, 'cgroup_kill').detail, /present/);
  t.is(byId(r, 'clone_into_cgroup').status, 'ok');
  t.is(byId(r, 'idmap').status, 'info'); // no newuidmap binaries in this machine
});

test('v2 not delegated: warn with the exact systemd-run command', async (t) => {
  const r = await diagnose(machine(v2User({ writable: [] })));
  const c = byId(r, 'cgroup-limits');
  t.is(r.cgroup.enforcement, 'rlimit');
  t.is(c.status, 'warn');
  t.is(
    c.fix,
    "run in a delegated scope: `systemd-run --user --scope -p Delegate=yes -- sandbox exec ...` (services: Delegate=yes in the unit's [Service] section)",
  );
  t.is(byId(r, 'clone_into_cgroup').status, 'info');
  t.is(r.exitCode, 0);
});

test('v2 not delegated, with a user manager on its bus and busctl: cgroup2 in a delegated scope of its systemd', async (t) => {
  const r = await diagnose(
    machine(
      v2User({
        writable: [],
        env: { XDG_RUNTIME_DIR: '/run/user/1000' },
        files: { '/run/user/1000/bus': '', '/run/systemd/system': '' },
        bins: ['/usr/bin/busctl'],
      }),
    ),
  );
  t.is(r.cgroup.enforcement, 'cgroup2');
  t.is(r.cgroup.route, 'systemd-scope');
  t.is(byId(r, 'cgroup-limits').status, 'ok');
  t.regex(byId(r, 'cgroup-limits').detail, /delegated scope the user's systemd makes/);
  t.regex(
    byId(r, 'cgroup-routes').detail,
    /^this caller \(uid 1000\): a delegated scope of its systemd; root: .*; an ordinary user: a delegated cgroup it is alone in, else a delegated scope of its systemd/,
  );
});

test('v2 root sharing its cgroup with other processes: cgroup2 in the own subtree', async (t) => {
  const r = await diagnose(
    machine(
      v2User({
        uid: 0,
        files: { [`${USER_DIR}/cgroup.procs`]: '1\n2\n' },
        writable: [USER_DIR, `${USER_DIR}/cgroup.procs`, `${USER_DIR}/cgroup.subtree_control`, '/sys/fs/cgroup'],
      }),
    ),
  );
  t.is(r.cgroup.v2Others, 2);
  t.is(r.cgroup.route, 'own-subtree');
  t.is(r.cgroup.enforcement, 'cgroup2');
  t.regex(byId(r, 'cgroup-limits').detail, /^cgroup2: in \/sys\/fs\/cgroup\/sandbox \(2 other processes share /);
});

test('v2 delegated without cpu: warn naming the missing controller', async (t) => {
  const r = await diagnose(machine(v2User({ files: { [`${USER_DIR}/cgroup.controllers`]: 'memory pids\n' } })));
  const c = byId(r, 'cgroup-limits');
  t.is(c.status, 'warn');
  t.regex(c.detail, /missing cpu/);
  t.regex(c.fix ?? '', /Delegate=/);
});

test('v2 on an older kernel without the files: features by version', async (t) => {
  const sys = machine(
    v2User({
      release: '5.15.0-91-generic',
      files: { [`${USER_DIR}/memory.peak`]: null, [`${USER_DIR}/cgroup.kill`]: null },
    }),
  );
  const r = await diagnose(sys);
  t.is(byId(r, 'memory_peak').status, 'info');
  t.regex(byId(r, 'memory_peak').detail, /kernel < 5\.19/);
  t.is(byId(r, 'cgroup_kill').status, 'ok');
  t.regex(byId(r, 'cgroup_kill').detail, /by version/);
});

// ---- namespaces, mounts, proc -----------------------------------------------------------------------------

test('user namespaces disabled by Debian sysctl: fail with the sysctl, exit 1', async (t) => {
  const denied = { status: 1, stderr: 'unshare: unshare failed: Operation not permitted\n' };
  const sys = machine(
    v2User({
      files: { '/proc/sys/kernel/unprivileged_userns_clone': '0\n' },
      probes: {
        namespaces: denied,
        perNamespace: Object.fromEntries(Object.keys(PER_NAMESPACE_ARGS).map((n) => [n, denied])),
        proc: denied,
        mounts: denied,
      },
    }),
  );
  const r = await diagnose(sys);
  const c = byId(r, 'userns');
  t.is(c.status, 'fail');
  t.is(c.detail, 'refused: unshare: unshare failed: Operation not permitted');
  t.regex(c.fix ?? '', /sysctl -w kernel\.unprivileged_userns_clone=1/);
  t.is(byId(r, 'mounts').detail, 'not possible without user namespaces');
  t.is(byId(r, 'proc').status, 'fail');
  t.false(r.ok);
  t.is(r.exitCode, 1);
  t.true(
    sys.calls.some((c) => c.includes('--net') && c.length === 5),
    'per-namespace probes ran',
  );
});

test('user.max_user_namespaces=0 is named even for root', async (t) => {
  const full = { status: 1, stderr: 'unshare: unshare failed: No space left on device\n' };
  const r = await diagnose(
    machine(
      hybridRoot({
        files: { '/proc/sys/user/max_user_namespaces': '0\n' },
        probes: { namespaces: full, perNamespace: { user: full }, proc: full, mounts: full },
      }),
    ),
  );
  t.is(byId(r, 'userns').status, 'fail');
  t.regex(byId(r, 'userns').fix ?? '', /user\.max_user_namespaces=15000/);
});

test('Ubuntu AppArmor restriction: the profile for node and the sysctl', async (t) => {
  const denied = { status: 1, stderr: 'unshare: write failed /proc/self/uid_map: Operation not permitted\n' };
  const r = await diagnose(
    machine(
      v2User({
        files: {
          '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1\n',
          '/proc/self/attr/apparmor/current': 'unconfined\n',
        },
        probes: { namespaces: denied, perNamespace: { user: denied }, proc: denied, mounts: denied },
      }),
    ),
  );
  const c = byId(r, 'userns');
  t.is(c.status, 'fail');
  t.regex(c.fix ?? '', /profile sandbox-node \/usr\/bin\/node flags=\(unconfined\) \{\\n {2}userns,/);
  t.regex(c.fix ?? '', /apparmor_parser -r \/etc\/apparmor\.d\/sandbox-node/);
  t.regex(c.fix ?? '', /kernel\.apparmor_restrict_unprivileged_userns=0/);
  t.regex(formatReport(r), /To fix:\n {2}user namespaces: AppArmor restricts/);
});

test('AppArmor restriction with a profile on node: the unshare probe is not conclusive', async (t) => {
  const denied = { status: 1, stderr: 'unshare: write failed /proc/self/uid_map: Operation not permitted\n' };
  const r = await diagnose(
    machine(
      v2User({
        files: {
          '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1\n',
          '/proc/self/attr/apparmor/current': 'sandbox-node (unconfined)\n',
        },
        probes: { namespaces: denied, perNamespace: { user: denied }, proc: denied, mounts: denied },
      }),
    ),
  );
  t.is(byId(r, 'userns').status, 'warn');
  t.regex(byId(r, 'userns').detail, /sandbox-node/);
});

test('only the network namespace refused: the failing one is named', async (t) => {
  const denied = { status: 1, stderr: 'unshare: unshare failed: Operation not permitted\n' };
  const r = await diagnose(machine(v2User({ probes: { namespaces: denied, perNamespace: { net: denied } } })));
  t.is(byId(r, 'userns').detail, 'refused: net (unshare: unshare failed: Operation not permitted)');
  t.is(byId(r, 'mounts').status, 'ok');
});

test('no unshare(1): namespaces not probed, a warning, not a failure', async (t) => {
  const sys = machine(v2User({ bins: ['/usr/bin/perl'] }));
  const r = await diagnose(sys);
  t.is(byId(r, 'userns').status, 'warn');
  t.is(byId(r, 'mounts').status, 'warn');
  t.is(r.exitCode, 0);
  t.false(sys.calls.some((c) => c[0].endsWith('unshare')));
});

test('inside Docker: masked /proc and seccomp explained with the docker options', async (t) => {
  const eperm = { status: 1, stderr: 'unshare: unshare failed: Operation not permitted\n' };
  const procFail = { status: 1, stderr: 'unshare: mount /proc failed: Operation not permitted\n' };
  const sys = machine({
    uid: 0,
    files: {
      '/proc/self/mountinfo': DOCKER_MOUNTINFO,
      '/proc/self/cgroup': '0::/\n',
      '/sys/fs/cgroup/cgroup.controllers': 'cpu io memory pids\n',
      '/.dockerenv': '',
      '/proc/self/status': 'Seccomp:\t2\nSeccomp_filters:\t1\n',
    },
    links: { '/proc/self/ns/pid': 'pid:[4026532301]' },
    writable: [],
    probes: {
      namespaces: eperm,
      perNamespace: { user: eperm },
      proc: procFail,
      mounts: eperm,
      syscalls: { stdout: '435=38 434=22 436=22' },
    },
  });
  const container = detectContainer(sys);
  t.true(container.inContainer);
  t.is(container.engine, 'docker');
  t.deepEqual(container.evidence, ['/.dockerenv', 'overlay root filesystem', 'own pid namespace']);

  const r = await diagnose(sys);
  t.regex(byId(r, 'userns').fix ?? '', /--security-opt seccomp=unconfined/);
  t.regex(byId(r, 'seccomp').detail, /already under 1 filter \(the container runtime's\)/);
  t.is(byId(r, 'clone3').status, 'info');
  t.regex(byId(r, 'clone3').detail, /blocked \(ENOSYS\) on a kernel >= 5\.3: a seccomp filter/);
  t.is(byId(r, 'container').status, 'warn');
  t.regex(byId(r, 'cgroup-limits').fix ?? '', /--cgroupns=private --privileged/);
  t.is(r.exitCode, 1);
});

test('proc refused because /proc is partly covered: the unmask options', async (t) => {
  const procFail = { status: 1, stderr: 'unshare: mount /proc failed: Operation not permitted\n' };
  const r = await diagnose(
    machine({
      files: { '/proc/self/mountinfo': DOCKER_MOUNTINFO, '/proc/self/cgroup': '0::/\n', '/.dockerenv': '' },
      links: { '/proc/self/ns/pid': 'pid:[4026532301]', '/proc/self/ns/user': 'user:[4026532300]' },
      probes: { proc: procFail },
    }),
  );
  const c = byId(r, 'proc');
  t.is(c.status, 'fail');
  t.regex(c.detail, /partly covered \(\/proc\/kcore, \/proc\/acpi, \/proc\/sys\)/);
  t.regex(c.fix ?? '', /systempaths=unconfined/);
});

test('pivot_root refused on an initramfs root: say so', async (t) => {
  const fail = { status: 1, stderr: "pivot_root: failed to change root from `.' to `old': Invalid argument\n" };
  const r = await diagnose(
    machine({
      files: { '/proc/self/mountinfo': '1 1 0:2 / / rw - rootfs rootfs rw\n', '/proc/self/cgroup': '' },
      probes: { mounts: fail },
    }),
  );
  t.is(byId(r, 'mounts').status, 'fail');
  t.regex(byId(r, 'mounts').fix ?? '', /initramfs/);
  t.is(r.exitCode, 1);
});

test('/.dockerenv alone, in the host namespaces, is not a container', (t) => {
  const c = detectContainer(machine(hybridRoot()));
  t.false(c.inContainer);
  t.deepEqual(c.evidence, ['/.dockerenv']);
});

test('podman and kubernetes are recognised', (t) => {
  const podman = detectContainer(machine({ files: { '/run/.containerenv': 'engine="podman-4.9.3"\n' }, env: { container: 'podman' } }));
  t.true(podman.inContainer);
  t.is(podman.engine, 'podman');
  const k8s = detectContainer(
    machine({ files: { '/proc/1/cgroup': '0::/kubepods/burstable/pod1/abc\n' }, env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } }),
  );
  t.is(k8s.engine, 'kubernetes');
});

// ---- kernel features, seccomp, id maps -------------------------------------------------------------------

test('system calls: probed when perl runs, by version when it does not', async (t) => {
  const probed = await diagnose(machine(v2User()));
  t.regex(byId(probed, 'close_range').detail, /probed \(EINVAL/);
  const old = await diagnose(machine(v2User({ bins: ['/usr/bin/unshare'], release: '5.4.0-150-generic' })));
  t.is(byId(old, 'clone3').status, 'ok');
  t.regex(byId(old, 'clone3').detail, /by version \(>= 5\.3\)/);
  t.is(byId(old, 'close_range').status, 'info');
  t.regex(byId(old, 'close_range').detail, /by version \(< 5\.9\)/);
});

test('the syscall probe passes only bad arguments', (t) => {
  // clone3 with a NULL struct of size 0 must never create a process.
  t.regex(SYSCALL_SCRIPT, /\[435, 0, 0\]/);
  t.regex(SYSCALL_SCRIPT, /\[436, 2, 1, 0\]/);
});

test('seccomp missing from the kernel fails the defaults', async (t) => {
  const r = await diagnose(machine(v2User({ files: { '/proc/self/status': 'Name:\tnode\n' } })));
  t.is(byId(r, 'seccomp').status, 'fail');
  t.true(byId(r, 'seccomp').neededByDefaults);
  t.is(r.exitCode, 1);
});

test('newuidmap setuid and subordinate ranges: ok; missing: info with the how-to', async (t) => {
  const full = await diagnose(
    machine(
      v2User({
        bins: ['/usr/bin/unshare', '/usr/bin/perl', '/usr/bin/newuidmap', '/usr/bin/newgidmap'],
        setuid: ['/usr/bin/newuidmap', '/usr/bin/newgidmap'],
      }),
    ),
  );
  t.is(byId(full, 'idmap').status, 'ok');
  t.is(byId(full, 'idmap').detail, 'newuidmap setuid, newgidmap setuid; subuid 100000+65536, subgid 100000+65536');
  const none = await diagnose(machine(v2User({ files: { '/etc/subuid': '', '/etc/subgid': '' } })));
  t.is(byId(none, 'idmap').status, 'info');
  t.regex(byId(none, 'idmap').fix ?? '', /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 tester/);
});

// ---- report, formatter, CLI ------------------------------------------------------------------------------

test('every failing or warning line has a fix', async (t) => {
  const eperm = { status: 1, stderr: 'unshare: unshare failed: Operation not permitted\n' };
  const machines = [
    hybridRoot(),
    hybridRoot({ uid: 1000, writable: [] }),
    v2User({ writable: [] }),
    v2User({ probes: { namespaces: eperm, perNamespace: { user: eperm }, proc: eperm, mounts: eperm } }),
  ];
  for (const m of machines) {
    const r = await diagnose(machine(m));
    for (const c of r.checks) {
      if (c.status === 'fail' || c.status === 'warn') t.not(c.fix, null, `${c.id}: ${c.detail}`);
    }
  }
});

test('a check that throws becomes a warning, not a crash', async (t) => {
  const sys = machine(v2User());
  const r = await diagnose({
    ...sys,
    readFile: (p) => {
      if (p === '/proc/sys/kernel/seccomp/actions_avail') throw new Error('boom');
      return sys.readFile(p);
    },
  });
  t.deepEqual(byId(r, 'seccomp'), {
    id: 'seccomp',
    title: 'seccomp',
    status: 'warn',
    detail: 'check failed: boom',
    fix: null,
    neededByDefaults: true,
  });
  t.is(r.exitCode, 0);
});

test('formatReport: aligned columns, needed marks, fixes only for failing lines', async (t) => {
  const r = await diagnose(machine(hybridRoot({ uid: 1000, writable: [] })));
  const text = formatReport(r);
  const rows = text.split('\n').filter((l) => /^ {2}(ok|warn|fail|info) /.test(l));
  t.is(rows.length, r.checks.length);
  const detailColumn = new Set(rows.map((l) => l.indexOf(l.trim().split(/ {2,}/)[2])));
  t.is(detailColumn.size, 1, 'details start in one column');
  t.regex(text, / {2}user namespaces \* /);
  t.regex(text, /To fix:\n {2}cgroup for limits: run as root/);
  t.notRegex(text, /usermod/); // the idmap line is info: its fix stays in the JSON
  t.regex(text, /OK: everything the default options need works\.\n$/);
});

test('runDoctor: --json prints the report, exit status follows it, bad options exit 125', async (t) => {
  let out = '';
  let err = '';
  const io = { system: machine(v2User()), stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s) };
  t.is(await runDoctor(['--json'], io), 0);
  const report = JSON.parse(out) as DoctorReport;
  t.is(report.exitCode, 0);
  t.true(report.checks.every((c) => ['ok', 'warn', 'fail', 'info'].includes(c.status) && c.fix !== undefined));
  t.is(report.cgroup.enforcement, 'cgroup2');

  out = '';
  t.is(await runDoctor([], io), 0);
  t.regex(out, /^sandbox doctor: Linux 6\.1\.0-50-amd64 x86_64, uid 1000 \(tester\)/);

  t.is(await runDoctor(['--jsn'], io), 125);
  t.is(err, 'sandbox doctor: unknown option "--jsn" (expected --json)\n');
  out = '';
  t.is(await runDoctor(['--help'], io), 0);
  t.regex(out, /Usage: sandbox doctor \[--json\]/);
});

test('a probe that times out leaves the line undecided (warn), not failed', async (t) => {
  const sys = machine(v2User());
  const slow: System = {
    ...sys,
    run: async (cmd, args) =>
      cmd.endsWith('/unshare') && args.includes('--net')
        ? { status: null, stdout: '', stderr: '', error: 'timed out' }
        : sys.run(cmd, args),
  };
  const r = await diagnose(slow);
  t.is(byId(r, 'userns').status, 'warn');
  t.regex(byId(r, 'userns').detail, /^undecided: the namespace probe did not finish within 20 s/);
  t.false(
    sys.calls.some((c) => c.length === 5 && c.includes('--net')),
    'no per-namespace probes after a timeout',
  );
  t.is(r.exitCode, 0);
});
