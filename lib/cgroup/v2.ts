// cgroup v2: one leaf per sandbox under a parent whose subtree_control hands it cpu, memory, pids.
// Kernel doc: Documentation/admin-guide/cgroup-v2.rst.
import fs from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors.js';
import { errnoCode, errorText } from '../errno.js';
import { sandboxInits } from './sandbox-inits.js';
import {
  hasFile,
  inDir,
  killUntilEmpty,
  memorySplitOf,
  readCgroupFile,
  readOptionalCgroupFile,
  treePids,
  writeCgroupFile,
  type CgroupReader,
} from './files.js';
import { namedParentDir, V2_CONTROLLERS, V2_REQUIRED, type LayoutV2 } from './detect.js';
import { checkLimits, formatCount, formatCpuMax } from './limits.js';
import { parseKeyValue, parseNumber, parsePids, splitCpu } from './proc.js';
import { nextSandboxName, SUPERVISOR_NAME, supervisorName, sweepOnce } from './stale.js';
import { closeSteps, makeLater, makeNow, readThenRemove, removeCgroupDirs, runSteps, type CgroupStep } from './steps.js';
import type {
  CgroupLimits,
  CgroupManager,
  CgroupManagerResult,
  CgroupUnavailableCode,
  CgroupUsage,
  CgroupVia,
  MemorySplit,
  SandboxCgroup,
} from './types.js';

export const DELEGATE_HINT = 'run it in a delegated cgroup: systemd-run --user --scope -p Delegate=yes -- CMD';

/** The writes that put the limits on a sandbox's (fresh) leaf. */
export function limitStepsV2(dir: string, limits: CgroupLimits): CgroupStep[] {
  const steps: CgroupStep[] = [];
  const write = (file: string, text: string, more: Partial<CgroupStep> = {}) =>
    steps.push({ kind: 'write', path: inDir(dir, file), text, ...more });
  if (limits.cpuQuota !== null) {
    write('cpu.max', formatCpuMax(limits.cpuQuota), {
      missing: `cannot limit the CPU quota: the cpu controller is not enabled for ${dir}`,
    });
  }
  if (limits.memoryBytes !== null) {
    write('memory.max', formatCount(limits.memoryBytes));
    // Swap is not part of memory.max on v2: forbid it, so the cap is the cap (file absent without swap support).
    write('memory.swap.max', '0', { optional: true });
  }
  // An OOM kill takes the whole sandbox (kernel >= 4.19): a judged run that hit the cap is over, and a
  // process tree with one member missing would only go on in a state nobody asked for. The verdict
  // still comes from memory.events oom_kill.
  write('memory.oom.group', '1', { optional: true });
  if (limits.pids !== null) write('pids.max', formatCount(limits.pids));
  if (limits.cpusetCpus != null) {
    write('cpuset.cpus', limits.cpusetCpus, {
      missing: `cannot pin CPUs: the cpuset controller is not enabled for ${dir}`,
    });
  }
  return steps;
}

/** Write the limits into a sandbox's (fresh) leaf, on this thread. */
export function writeLimitsV2(dir: string, limits: CgroupLimits): void {
  makeNow(limitStepsV2(dir, limits));
}

/** usage_usec of cpu.stat: exact, includes descendants, present without the cpu controller (>= 4.15). */
export function readCpuUsageUsV2(dir: string): number {
  const usage = parseKeyValue(readCgroupFile(dir, 'cpu.stat')).get('usage_usec');
  if (usage === undefined) throw new SandboxError(`cannot parse cpu.stat in ${dir}: no usage_usec`, { stage: 'cgroup' });
  return usage;
}

/** The files readUsageV2 reads. */
export const USAGE_FILES_V2 = ['cpu.stat', 'memory.peak', 'memory.stat', 'memory.events'];

export function readUsageV2(dir: string, read: CgroupReader = readOptionalCgroupFile): CgroupUsage {
  const cpuText = read(dir, 'cpu.stat');
  if (cpuText === null) throw new SandboxError(`cannot read cpu.stat in ${dir}: No such file or directory`, { stage: 'cgroup' });
  const cpu = parseKeyValue(cpuText);
  const total = cpu.get('usage_usec');
  if (total === undefined) throw new SandboxError(`cannot parse cpu.stat in ${dir}: no usage_usec`, { stage: 'cgroup' });
  // user_usec/system_usec are already scaled to usage_usec by the kernel (cputime_adjust); splitting the
  // total keeps user + sys == total whatever rounding happened.
  const split = splitCpu(total, cpu.get('user_usec') ?? 0, cpu.get('system_usec') ?? 0);
  const peak = parseNumber(read(dir, 'memory.peak') ?? ''); // kernel >= 5.19
  const stat = parseKeyValue(read(dir, 'memory.stat') ?? '');
  // memory.events counts the subtree (unless mounted with memory_localevents).
  const events = parseKeyValue(read(dir, 'memory.events') ?? '');
  return {
    ...split,
    cpuSource: 'cpu.stat',
    memoryPeakBytes: peak,
    memorySource: peak === null ? null : 'memory.peak',
    anonBytes: stat.get('anon') ?? null,
    fileBytes: stat.get('file') ?? null,
    oomKills: events.get('oom_kill') ?? 0,
    memoryFailcnt: null,
  };
}

class SandboxCgroupV2 implements SandboxCgroup {
  readonly mode = 'cgroup2' as const;
  readonly paths: string[];
  readonly procsFiles: string[];
  readonly join: (string | number)[];
  /** The leaf's fd and, made ahead (createLater), cgroup.procs's: until closed. */
  #fds: number[];

  constructor(
    readonly dir: string,
    readonly fd: number,
    joinFd = -1,
  ) {
    this.paths = [dir];
    this.procsFiles = [inDir(dir, 'cgroup.procs')];
    this.join = joinFd >= 0 ? [joinFd] : this.procsFiles;
    this.#fds = joinFd >= 0 ? [fd, joinFd] : [fd];
  }

  /** The fds to close, once (in the job that removes the leaf). */
  #takeFds(): number[] {
    const fds = this.#fds;
    this.#fds = [];
    return fds;
  }

  cpuUsageUs(): number {
    return readCpuUsageUsV2(this.dir);
  }

  usage(): CgroupUsage {
    return readUsageV2(this.dir);
  }

  memorySplit(): MemorySplit | null {
    return memorySplitOf(readOptionalCgroupFile(this.dir, 'memory.stat'), 'anon', 'file');
  }

  kill(): void {
    try {
      // cgroup.kill (>= 5.14) kills the subtree and also any task forked while it runs.
      if (hasFile(this.dir, 'cgroup.kill')) {
        writeCgroupFile(this.dir, 'cgroup.kill', '1');
        return;
      }
      // Older: freeze (>= 5.2) so nothing forks behind our back; a fatal signal still ends a frozen task.
      const freeze = hasFile(this.dir, 'cgroup.freeze');
      if (freeze) writeCgroupFile(this.dir, 'cgroup.freeze', '1');
      // Thawed only once empty: what survived the deadline stays frozen until destroy() retries.
      if (killUntilEmpty(() => treePids(this.dir), 2000) && freeze) writeCgroupFile(this.dir, 'cgroup.freeze', '0');
    } catch (err) {
      if (!(err instanceof SandboxError && err.code === 'ENOENT')) throw err;
    }
  }

  destroy(): Promise<void> {
    return removeCgroupDirs(this.paths, () => this.kill(), this.#takeFds());
  }

  end(): Promise<CgroupUsage | null> {
    const files = USAGE_FILES_V2.map((f) => inDir(this.dir, f));
    return readThenRemove(
      files,
      this.paths,
      (read) => readUsageV2(this.dir, read),
      () => this.kill(),
      this.#takeFds(),
    );
  }

  destroyNow(): void {
    runSteps([...closeSteps(this.#takeFds()), { kind: 'rmdir', path: this.dir }]);
  }

  joined(): void {
    const fds = this.#takeFds();
    if (fds.length > 0) runSteps(closeSteps(fds));
  }
}

type Unavailable = { manager: null; reason: string; code: CgroupUnavailableCode };
const unavailable = (code: CgroupUnavailableCode, reason: string): Unavailable => ({ manager: null, code, reason });

/**
 * Hand `controllers` to dir's children. cgroup v2's "no internal processes" rule (cgroup-v2.rst) refuses
 * it (EBUSY) while dir holds processes itself; like systemd does for a delegated unit, we then move our
 * own process — and only it, with the inits of its sandboxes kept warm — into a leaf of its own,
 * sandbox-supervisor-<pid>, and try again.
 */
function enableControllers(dir: string, controllers: string[]): Unavailable | null {
  const file = 'cgroup.subtree_control';
  const value = controllers.map((c) => `+${c}`).join(' ');
  const what = `enable ${controllers.join(', ')} in`;
  try {
    writeCgroupFile(dir, file, value);
    return null;
  } catch (err) {
    const code = err instanceof SandboxError ? err.code : null;
    if (code !== 'EBUSY') {
      const cause = err instanceof SandboxError ? err.cause : err;
      return unavailable(
        code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission' : 'controllers',
        `cannot ${what} ${path.join(dir, file)}: ${errorText(cause)}`,
      );
    }
  }
  const pids = parsePids(readCgroupFile(dir, 'cgroup.procs'));
  const ours = pids.filter((pid) => sandboxInits.has(pid));
  const others = pids.filter((pid) => pid !== process.pid && !sandboxInits.has(pid));
  if (others.length > 0) {
    const list = others.slice(0, 5).join(', ') + (others.length > 5 ? ', ...' : '');
    return unavailable(
      'busy',
      `cannot ${what} ${path.join(dir, file)}: cgroup v2 allows it only while the cgroup holds no processes, ` +
        `and other processes are in it (pid ${list}); ${DELEGATE_HINT} (the sandbox's process alone), or name a parent`,
    );
  }
  if (!pids.includes(process.pid)) {
    return unavailable('controllers', `cannot ${what} ${path.join(dir, file)}: Device or resource busy`);
  }
  const supervisor = path.join(dir, supervisorName());
  try {
    fs.mkdirSync(supervisor);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') return unavailable('permission', `cannot create ${supervisor}: ${errorText(err)}`);
  }
  try {
    writeCgroupFile(supervisor, 'cgroup.procs', String(process.pid));
    for (const pid of ours) {
      try {
        writeCgroupFile(supervisor, 'cgroup.procs', String(pid));
      } catch {
        // It ended meanwhile (ESRCH); one still there makes the write below fail, and says so.
      }
    }
    writeCgroupFile(dir, file, value);
  } catch (err) {
    return unavailable('permission', (err as Error).message);
  }
  return null;
}

/** The closest directory containing both a and b. */
export function commonAncestor(a: string, b: string): string {
  const pa = a.split('/');
  const pb = b.split('/');
  let n = 0;
  while (n < pa.length && n < pb.length && pa[n] === pb[n]) n++;
  return pa.slice(0, n).join('/') || '/';
}

/** The directory sandbox cgroups go in: the named parent, or the caller's cgroup (above its supervisor leaf). */
export function parentDirV2(layout: LayoutV2, parent: string | null): string | null {
  if (parent !== null) return namedParentDir(layout, layout.cgroupPath, parent);
  // Already moved into a supervisor leaf (by us, or by the process we were forked from): the
  // parent is the cgroup above it.
  return SUPERVISOR_NAME.test(path.basename(layout.dir)) ? path.dirname(layout.dir) : layout.dir;
}

export function createManagerV2(
  layout: LayoutV2,
  parent: string | null,
  via: CgroupVia = parent === null ? 'caller' : 'parent-option',
): CgroupManagerResult {
  const dir = parentDirV2(layout, parent);
  if (dir === null) return unavailable('parent', `cgroup parent ${parent} is not visible under ${layout.mountPoint}`);
  const controllersText = readOptionalCgroupFile(dir, 'cgroup.controllers');
  if (controllersText === null) return unavailable('parent', `${dir} is not a cgroup v2 directory (no cgroup.controllers)`);
  const available = controllersText.trim().split(/\s+/);
  const missing = V2_REQUIRED.filter((c) => !available.includes(c));
  if (missing.length > 0) {
    return unavailable(
      'controllers',
      `cgroup ${dir} does not offer the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''} ` +
        `(cgroup.controllers: "${controllersText.trim()}"); ${DELEGATE_HINT}`,
    );
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    return unavailable('permission', `cannot create cgroups in ${dir}: ${errorText(err)} (not a delegated cgroup; ${DELEGATE_HINT})`);
  }
  const wanted = V2_CONTROLLERS.filter((c) => available.includes(c));
  const enabled = readCgroupFile(dir, 'cgroup.subtree_control').trim().split(/\s+/);
  const toEnable = wanted.filter((c) => !enabled.includes(c));
  if (toEnable.length > 0) {
    const failure = enableControllers(dir, toEnable);
    if (failure !== null) return failure;
  }
  // Moving a run's process (or the sandbox's init) into its leaf (a write to cgroup.procs, or
  // CLONE_INTO_CGROUP) needs write access to cgroup.procs of the closest cgroup above both ends
  // (cgroup-v2.rst, "Delegation Containment").
  const ancestor = commonAncestor(layout.dir, dir);
  try {
    fs.accessSync(path.join(ancestor, 'cgroup.procs'), fs.constants.W_OK);
  } catch (err) {
    return unavailable(
      'permission',
      `cannot move processes below ${ancestor}: cgroup.procs: ${errorText(err)} (not a delegated cgroup; ${DELEGATE_HINT})`,
    );
  }
  sweepOnce([dir], { supervisors: true });
  let cpusetEnabled = enabled.includes('cpuset');

  /**
   * A new leaf and the steps that make it: mkdir, the limits, an fd of it for CLONE_INTO_CGROUP;
   * `ahead`: then its cgroup.procs opened (a warm run's command joins by it).
   */
  const making = (limits: CgroupLimits, ahead: boolean): { leaf: string; steps: CgroupStep[] } => {
    checkLimits(limits);
    // cpuset is handed down only when a run pins CPUs: every cgroup with it costs the kernel's
    // cpuset locks when it is made and removed.
    if (limits.cpusetCpus != null && !cpusetEnabled) {
      if (!available.includes('cpuset')) {
        throw new SandboxError(`cannot pin CPUs: cgroup ${dir} does not offer the cpuset controller; ${DELEGATE_HINT}`, {
          stage: 'cgroup',
        });
      }
      const failure = enableControllers(dir, ['cpuset']);
      if (failure !== null) throw new SandboxError(`cannot pin CPUs: ${failure.reason}`, { stage: 'cgroup' });
      cpusetEnabled = true;
    }
    const leaf = inDir(dir, nextSandboxName());
    const steps: CgroupStep[] = [{ kind: 'mkdir', path: leaf }, ...limitStepsV2(leaf, limits), { kind: 'open', path: leaf }];
    if (ahead) steps.push({ kind: 'open-w', path: inDir(leaf, 'cgroup.procs') });
    return { leaf, steps };
  };

  const manager: CgroupManager = {
    mode: 'cgroup2',
    via,
    parents: [dir],
    controllers: [...wanted],
    aheadFds: () => 2, // the leaf (CLONE_INTO_CGROUP) and its cgroup.procs
    create(limits: CgroupLimits): SandboxCgroup {
      const { leaf, steps } = making(limits, false);
      const results = makeNow(steps);
      return new SandboxCgroupV2(leaf, results[results.length - 1] as number);
    },
    async createLater(limits: CgroupLimits): Promise<SandboxCgroup> {
      const { leaf, steps } = making(limits, true);
      const results = await makeLater(steps);
      return new SandboxCgroupV2(leaf, results[results.length - 2] as number, results[results.length - 1] as number);
    },
  };
  return { manager };
}
