// CPU lists and the cpuset writes of both cgroup versions: pure TypeScript, no kernel.
import test from 'ava';
import { checkCpuset, formatCpuList, parseCpuList } from '../../lib/cgroup/cpuset.js';
import { limitStepsV1 } from '../../lib/cgroup/v1.js';
import { limitStepsV2 } from '../../lib/cgroup/v2.js';
import { SandboxError } from '../../lib/errors.js';

const none = { cpuQuota: null, memoryBytes: null, pids: null };

test('CPU lists parse and print as the kernel writes them', (t) => {
  t.deepEqual(parseCpuList('0-2,5,4\n'), [0, 1, 2, 4, 5]);
  t.is(formatCpuList([0, 1, 2, 4, 5]), '0-2,4-5');
  t.is(formatCpuList([3]), '3');
  for (const bad of ['', 'x', '1-0', '0,', '-1', '0--1', '1 2']) t.is(parseCpuList(bad), null, bad);
});

test('checkCpuset: canonical list; bad lists and offline CPUs name the option and what is online', (t) => {
  t.is(checkCpuset('1,0', 'cpusetCpus', [0, 1, 2, 3]), '0-1');
  const off = t.throws(() => checkCpuset('4', '--cpuset-cpus', [0, 1, 2, 3]), { instanceOf: SandboxError });
  t.is(off?.message, 'Expected online CPUs only (online here: 0-3) for --cpuset-cpus but received "4"');
  t.is(off?.stage, 'options');
  t.throws(() => checkCpuset(3, 'cpusetCpus', [0, 1, 2, 3]), { message: /^Expected a CPU list such as "0-1,3"/ });
});

test("v1: the parent's memory nodes, then the CPUs, in the cpuset directory; refused without one", (t) => {
  const dirs = { cpu: null, cpuacct: '/a', memory: '/m', pids: '/p', cpuset: '/c' };
  const steps = limitStepsV1(dirs, { ...none, cpusetCpus: '1' }, false, '0');
  t.deepEqual(
    steps.map((s) => [s.path, s.text]),
    [
      ['/c/cpuset.mems', '0'],
      ['/c/cpuset.cpus', '1'],
    ],
  );
  t.deepEqual(limitStepsV1(dirs, none, false), [], 'nothing without pinning');
  t.throws(() => limitStepsV1({ ...dirs, cpuset: null }, { ...none, cpusetCpus: '1' }, false), { message: /^cannot pin CPUs/ });
});

test('v2: cpuset.cpus in the leaf, and a clear line when the controller is not there', (t) => {
  const steps = limitStepsV2('/leaf', { ...none, cpusetCpus: '0-1' }).filter((s) => s.path.includes('cpuset'));
  t.deepEqual(
    steps.map((s) => [s.path, s.text, s.missing]),
    [['/leaf/cpuset.cpus', '0-1', 'cannot pin CPUs: the cpuset controller is not enabled for /leaf']],
  );
});
