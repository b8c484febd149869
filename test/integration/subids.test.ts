// idMap: 'subordinate' through newuidmap/newgidmap. Needs the uidmap package and a range for the
// caller in /etc/subuid and /etc/subgid: the cgroup v2 guest has both for its user `tester`
// (test/vm/run.sh with --user); elsewhere the test says why it cannot run.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Sandbox } from '../../lib/index.js';
import { parseSubordinate } from '../../lib/subids.js';

function missing(): string | null {
  if (process.getuid?.() === 0) return 'the caller is root: root callers always get the single unprivileged id';
  try {
    execFileSync('sh', ['-c', 'command -v newuidmap && command -v newgidmap'], { stdio: 'ignore' });
  } catch {
    return 'newuidmap/newgidmap are not installed (Debian package uidmap)';
  }
  const me = userInfo();
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  if (parseSubordinate(read('/etc/subuid'), me.username, me.uid) === null) return `no /etc/subuid range for ${me.username}`;
  if (parseSubordinate(read('/etc/subgid'), me.username, me.gid) === null) return `no /etc/subgid range for ${me.username}`;
  return null;
}

const why = missing();

test('subordinate ids: many ids inside, the caller is still uid 1000', async (t) => {
  if (why !== null) {
    t.log(`not run here: ${why}`);
    // Without the helpers the option must fail as a setup error, never run with a wrong map.
    if (process.getuid?.() !== 0) {
      await t.throwsAsync(new Sandbox({ idMap: 'subordinate' }).run(['true']), { name: 'SandboxError' });
    } else {
      const r = await new Sandbox({ idMap: 'subordinate' }).run(['cat', '/proc/self/uid_map']);
      t.regex(r.stdout!.toString(), /^\s*1000\s+65534\s+1\s*$/);
    }
    return;
  }
  const r = await new Sandbox({ idMap: 'subordinate' }).run(['sh', '-c', 'cat /proc/self/uid_map; id -u']);
  t.is(r.outcome, 'ok', r.stderr?.toString());
  const lines = r.stdout!.toString().trim().split('\n');
  t.is(lines.at(-1), '1000');
  t.true(lines.length >= 3, 'more than one map line');
  t.regex(lines[0]!, new RegExp(`^\\s*1000\\s+${process.getuid!()}\\s+1$`));
});

test('subordinate ids on a warm sandbox: mapped once, for every run', async (t) => {
  const box = new Sandbox({ idMap: 'subordinate', pool: 1 });
  if (why !== null) {
    t.log(`not run here: ${why}`);
    if (process.getuid?.() !== 0) {
      await t.throwsAsync(box.warm(), { name: 'SandboxError' });
    } else {
      const r = await box.run(['cat', '/proc/self/uid_map']);
      t.regex(r.stdout!.toString(), /^\s*1000\s+65534\s+1\s*$/);
    }
    await box.close();
    return;
  }
  await box.warm();
  for (let i = 0; i < 2; i++) {
    const r = await box.run(['sh', '-c', 'cat /proc/self/uid_map | wc -l; id -u']);
    t.is(r.outcome, 'ok', r.stderr?.toString());
    const [lines, uid] = r.stdout!.toString().trim().split('\n');
    t.true(Number(lines) >= 2, 'more than one map line');
    t.is(uid, '1000');
  }
  await box.close();
});
