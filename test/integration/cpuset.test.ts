// cpusetCpus / --cpuset-cpus: the sandbox's tree is pinned by a cpuset cgroup (v1 here as root; v2 in
// the guest of test/vm/run.sh), so the command cannot widen its own affinity; where no cpuset cgroup
// can be had (rootless on cgroup v1) the run is refused, never run unpinned.
import test from 'ava';
import { Sandbox, SandboxError } from '../../lib/index.js';
import { cgroupManager } from '../../lib/cgroup/index.js';
import { onlineCpus } from '../../lib/cgroup/cpuset.js';
import { cli } from '../helpers/cli.js';
import { text } from '../helpers/host.js';

const found = cgroupManager();
const manager = found.manager;
// v1 lists cpuset among its controllers when the hierarchy is usable; v2 hands it down on demand.
const canPin = manager !== null && (manager.mode === 'cgroup2' || manager.controllers.includes('cpuset'));
const online = onlineCpus() ?? [];
const last = online.at(-1);

const noPin = canPin ? null : `no cpuset cgroup here: ${found.manager === null ? found.reason : 'no usable cpuset hierarchy'}`;
(canPin && online.length >= 2 ? test : test.skip)(
  'pinned: the tree runs on the CPUs asked for, and cannot widen its affinity' +
    (noPin !== null ? ` (skipped: ${noPin})` : online.length < 2 ? ' (skipped: one CPU online)' : ''),
  async (t) => {
    const want = String(last);
    const r = await new Sandbox({ cpusetCpus: want }).run([
      'sh',
      '-c',
      // taskset -p: the shell's own mask; then an attempt to move itself to every online CPU.
      `grep Cpus_allowed_list /proc/self/status; sh -c 'grep Cpus_allowed_list /proc/self/status'; taskset -pc 0-${last} $$ >/dev/null 2>&1; grep Cpus_allowed_list /proc/self/status`,
    ]);
    t.is(r.outcome, 'ok', text(r.stderr));
    t.deepEqual(text(r.stdout).trim().split('\n'), [
      `Cpus_allowed_list:\t${want}`,
      `Cpus_allowed_list:\t${want}`,
      `Cpus_allowed_list:\t${want}`,
    ]);
    t.not(r.enforcement, 'rlimit');
    const all = await new Sandbox({ cpusetCpus: `0-${last}` }).run(['grep', 'Cpus_allowed_list', '/proc/self/status']);
    t.is(text(all.stdout), `Cpus_allowed_list:\t0-${last}\n`);
  },
);

(canPin ? test.skip : test)(
  `no cpuset cgroup here: the run is refused with one line, stage cgroup${canPin ? ' (skipped: pinning works here)' : ''}`,
  async (t) => {
    const e = await t.throwsAsync(new Sandbox({ cpusetCpus: '0' }).run(['true']), { instanceOf: SandboxError });
    t.is(e?.stage, 'cgroup');
    t.regex(e?.message ?? '', /^cannot pin CPUs/);
    const r = await cli(['exec', '--cpuset-cpus', '0', '--', 'true']);
    t.is(r.status, 125);
    t.regex(r.stderr, /^sandbox: cannot pin CPUs[^\n]*\n$/);
  },
);

test('bad lists and offline CPUs are option errors naming the flag and the CPUs online', async (t) => {
  for (const bad of ['x', '1-0', '', '0,,1']) {
    const e = t.throws(() => new Sandbox({ cpusetCpus: bad }), { instanceOf: SandboxError });
    t.is(e?.stage, 'options');
    t.regex(e?.message ?? '', /^Expected a CPU list such as "0-1,3" \(online here: [\d,-]+\) for cpusetCpus/);
  }
  const off = String((last ?? 0) + 1);
  const e = t.throws(() => new Sandbox({ cpusetCpus: off }), { instanceOf: SandboxError });
  t.regex(e?.message ?? '', /^Expected online CPUs only/);
  const r = await cli(['exec', '--cpuset-cpus', off, '--', 'true']);
  t.is(r.status, 125);
  t.regex(r.stderr, /^sandbox: Expected online CPUs only \(online here: [\d,-]+\) for --cpuset-cpus but received "\d+"\n$/);
});
