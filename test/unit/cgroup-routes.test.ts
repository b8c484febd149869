// The pieces of the cgroup v2 routes and the tmpfs caps that need no kernel: the tmpfs mount
// options in the plan, the user manager's call.
import test from 'ava';
import { startScopeArgs, userBus } from '../../lib/cgroup/systemd-scope.js';
import { MountOp } from '../../lib/native-plan.js';
import { tmpfsBytes, tmpfsData, tmpfsInodes } from '../../lib/tmpfs-caps.js';
import { resolveOptions } from '../../lib/validate.js';
import type { SandboxOptions } from '../../lib/options.js';
import { planFor } from '../helpers/plan.js';

const MiB = 1 << 20;

function mounts(options: SandboxOptions) {
  return planFor(resolveOptions(options), { callerUid: 1000, cgroupEnforced: false, argv: ['/bin/true'] }).mounts;
}
const tmpfsAt = (options: SandboxOptions, dst: string) =>
  mounts(options)
    .filter((m) => m.op === MountOp.tmpfs && m.dst === dst)
    .map((m) => m.data);
const shmData = (options: SandboxOptions) => mounts(options).find((m) => m.op === MountOp.dev)!.data;

test('every tmpfs has a size and an inode cap by default: /tmp 128 MiB, /dev/shm 64 MiB, 4096 inodes', (t) => {
  t.deepEqual(tmpfsAt({}, '/tmp'), [`mode=1777,size=${128 * MiB},nr_inodes=4096`]);
  t.is(shmData({}), `mode=1777,size=${64 * MiB},nr_inodes=4096`);
  t.deepEqual(tmpfsAt({ tmpfs: [{ dst: '/work' }] }, '/work'), [`mode=1777,size=${128 * MiB},nr_inodes=4096`]);
});

test('a --tmpfs /tmp:SIZE is the one /tmp, with its size and inodes to match', (t) => {
  t.deepEqual(tmpfsAt({ tmpfs: [{ dst: '/tmp', size: '1g' }] }, '/tmp'), [`mode=1777,size=${1024 * MiB},nr_inodes=32768`]);
});

test('no tmpfs is larger than the memory limit', (t) => {
  const options: SandboxOptions = { memory: '16m', tmpfs: [{ dst: '/work', size: '1g' }] };
  t.deepEqual(tmpfsAt(options, '/tmp'), [`mode=1777,size=${16 * MiB},nr_inodes=4096`]);
  t.deepEqual(tmpfsAt(options, '/work'), [`mode=1777,size=${16 * MiB},nr_inodes=4096`]);
  t.is(shmData(options), `mode=1777,size=${16 * MiB},nr_inodes=4096`);
  t.is(tmpfsBytes(null, 64 * MiB, 128 * MiB), 64 * MiB);
  t.is(tmpfsInodes(4 * 1024 * MiB), 131072);
  t.is(tmpfsData(MiB), `mode=1777,size=${MiB},nr_inodes=4096`);
});

test('the user manager is found as sd_bus_open_user() finds it', (t) => {
  t.is(
    userBus({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/x' }, () => false),
    'unix:path=/x',
  );
  t.is(
    userBus({ XDG_RUNTIME_DIR: '/run/user/1000' }, (p) => p === '/run/user/1000/bus'),
    'unix:path=/run/user/1000/bus',
  );
  t.is(
    userBus({ XDG_RUNTIME_DIR: '/run/user/1000' }, () => false),
    null,
  );
  t.is(
    userBus({}, () => true),
    null,
  );
});

test('the scope asked for holds this process only, delegated, collected when it ends', (t) => {
  const args = startScopeArgs('sandbox-42-ab.scope', 42);
  const call = args.indexOf('StartTransientUnit');
  t.deepEqual(args.slice(call, call + 4), ['StartTransientUnit', 'ssa(sv)a(sa(sv))', 'sandbox-42-ab.scope', 'fail']);
  const props = args.slice(call + 5, -1);
  t.is(Number(args[call + 4]), 4);
  t.deepEqual(props.slice(0, 4), ['PIDs', 'au', '1', '42']);
  t.deepEqual(props.slice(4, 7), ['Delegate', 'b', 'true']);
  t.deepEqual(props.slice(7, 10), ['CollectMode', 's', 'inactive-or-failed']);
  t.is(args[args.length - 1], '0', 'no auxiliary units');
});
