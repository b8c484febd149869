// The rootless pass of `npm test`: when the main run was root, run the kernel-facing tests
// (test/integration, test/security) again as an ordinary user, uid/gid 65534 (nobody), which
// owns nothing here and gets no privilege from being root first (setpriv clears the groups).
// Plain JS so that it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const UID = '65534';

if (process.getuid() !== 0) {
  console.log('run-rootless: the main test run was already rootless (uid ' + process.getuid() + '); nothing more to run');
  process.exit(0);
}

const args = [
  '--reuid=' + UID,
  '--regid=' + UID,
  '--clear-groups',
  '--',
  process.execPath,
  join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'),
  '--config',
  join(root, 'test', 'ava.rootless.config.js'),
  // Arguments narrow the run to given files, e.g. `node test/helpers/run-rootless.js test/integration/io.test.ts`.
  ...(process.argv.length > 2 ? process.argv.slice(2) : ['test/integration', 'test/security']),
];
// A temp dir of the user's own, removed afterwards: AVA's uncached compile output, tsx's cache
// and the tests' scratch directories all go there.
const tmp = mkdtempSync(join(tmpdir(), 'sandbox-rootless-'));
chownSync(tmp, Number(UID), Number(UID));
chmodSync(tmp, 0o755);
console.log(`run-rootless: running the integration and security tests as uid ${UID}`);
const r = spawnSync('setpriv', args, {
  cwd: root,
  stdio: 'inherit',
  // Fixtures root built (the Python image) stay where root's pass found them, read-only to nobody.
  env: {
    ...process.env,
    HOME: tmp,
    TMPDIR: tmp,
    USER: 'nobody',
    LOGNAME: 'nobody',
    SANDBOX_FIXTURE_CACHE: process.env.SANDBOX_FIXTURE_CACHE ?? join(homedir(), '.cache/sandbox-fixtures'),
  },
});
rmSync(tmp, { recursive: true, force: true });
if (r.error) {
  console.error(`run-rootless: cannot run setpriv: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
