// Runs the cgroup driver scenarios in a process of its own and prints one line of JSON:
//   node --import tsx test/helpers/cgroup-driver-main.ts          → {"report": DriverReport} or {"unavailable": ...}
//   node --import tsx test/helpers/cgroup-driver-main.ts --probe  → only cgroupManager's answer
// The integration test starts it in a fresh scope (cgroup v2 with other processes in the runner's
// cgroup) or as an unprivileged user (the rootless answer).
import { cgroupManager } from '../../lib/cgroup/index.js';
import { collectDriverReport } from './cgroup-driver.js';

const result = cgroupManager({});
if (result.manager === null) {
  console.log(JSON.stringify({ unavailable: { reason: result.reason, code: result.code }, uid: process.getuid?.() }));
} else if (process.argv.includes('--probe')) {
  console.log(JSON.stringify({ mode: result.manager.mode, parents: result.manager.parents, uid: process.getuid?.() }));
} else {
  const cpuSeconds = Number(process.env['CGROUP_TEST_CPU_SECONDS'] ?? 1);
  console.log(JSON.stringify({ report: await collectDriverReport(result.manager, { cpuSeconds }) }));
}
