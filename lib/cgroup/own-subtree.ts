// Root's own subtree on cgroup v2: when the caller's cgroup cannot hold the sandbox's cgroups (a
// shell, `timeout` or a service's helpers share it), they are made under <cgroup2 mount>/sandbox,
// as runc and crun with the cgroupfs driver make theirs under a directory of their own. It holds
// no process, hands cpu, memory and pids to its children, and is removed when empty: at the exit
// of the process that made it, and made again by a later one (or by this one, if another process
// removed it meanwhile).
import fs from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors.js';
import { errnoCode, errorText } from '../errno.js';
import { readOptionalCgroupFile, writeCgroupFile } from './files.js';
import { V2_CONTROLLERS, type LayoutV2 } from './detect.js';
import type { CgroupManager, CgroupManagerResult, SandboxCgroup } from './types.js';
import { SANDBOX_NAME } from './stale.js';
import { createManagerV2 } from './v2.js';

export const OWN_SUBTREE_NAME = 'sandbox';

export function ownSubtreeDir(layout: LayoutV2): string {
  return path.join(layout.mountPoint, OWN_SUBTREE_NAME);
}

/** mkdir the subtree; the mount's root is asked to hand it the controllers it does not yet. */
function makeSubtree(layout: LayoutV2, dir: string): void {
  const offered = (readOptionalCgroupFile(layout.mountPoint, 'cgroup.subtree_control') ?? '').trim().split(/\s+/);
  const available = (readOptionalCgroupFile(layout.mountPoint, 'cgroup.controllers') ?? '').trim().split(/\s+/);
  const missing = V2_CONTROLLERS.filter((c) => available.includes(c) && !offered.includes(c));
  if (missing.length > 0) {
    try {
      // The true root cgroup may hold processes and still hand controllers down (cgroup-v2.rst).
      writeCgroupFile(layout.mountPoint, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '));
    } catch {
      // Said by createManagerV2 when a required controller is then missing.
    }
  }
  try {
    fs.mkdirSync(dir, 0o755);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw new SandboxError(`cannot create ${dir}: ${errorText(err)}`, { stage: 'cgroup', cause: err });
  }
}

let removeAtExit = false;

/**
 * At exit: this process's empty sandbox cgroups (a reserve's stock, whose own exit hook may come
 * later), then the subtree, refused while another process's sandboxes are in it (its last user
 * removes it).
 */
function removeIfEmpty(dir: string): void {
  try {
    for (const name of fs.readdirSync(dir)) {
      const owner = SANDBOX_NAME.exec(name);
      if (owner !== null && Number(owner[1]) === process.pid) rmdirQuietly(path.join(dir, name));
    }
  } catch {
    // gone already
  }
  rmdirQuietly(dir);
}

function rmdirQuietly(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // busy (tasks, children) or gone
  }
}

export function ownSubtreeManager(layout: LayoutV2): CgroupManagerResult {
  const dir = ownSubtreeDir(layout);
  try {
    makeSubtree(layout, dir);
  } catch (err) {
    return { manager: null, code: 'permission', reason: (err as Error).message };
  }
  const made = createManagerV2(layout, dir, 'own-subtree');
  if (made.manager === null) return made;
  if (!removeAtExit) {
    removeAtExit = true;
    process.once('exit', () => removeIfEmpty(dir));
  }
  const inner = made.manager;
  // Another process's exit removed the subtree between two of our runs: made again, once.
  const again = <T>(make: () => T): T => {
    try {
      return make();
    } catch (err) {
      if (!(err instanceof SandboxError && err.code === 'ENOENT' && !fs.existsSync(dir))) throw err;
      makeSubtree(layout, dir);
      const remade = createManagerV2(layout, dir, 'own-subtree');
      if (remade.manager === null) throw new SandboxError(remade.reason, { stage: 'cgroup' });
      return make();
    }
  };
  const manager: CgroupManager = {
    ...inner,
    create: (limits) => again(() => inner.create(limits)),
    createLater: async (limits): Promise<SandboxCgroup> => {
      try {
        return await inner.createLater(limits);
      } catch (err) {
        if (!(err instanceof SandboxError && err.code === 'ENOENT' && !fs.existsSync(dir))) throw err;
        return again(() => inner.create(limits));
      }
    },
  };
  return { manager };
}
