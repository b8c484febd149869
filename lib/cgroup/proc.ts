// Pure parsers for /proc/self/mountinfo, /proc/self/cgroup, /proc/PID/stat and the
// "key value" files of cgroupfs. No I/O here, so they are unit-tested with injected text.

export interface MountInfo {
  mountId: number;
  parentId: number;
  /** The path inside the filesystem that is mounted here (for cgroupfs: relative to our cgroup namespace). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  /** Per-superblock options; for cgroup v1 these name the controllers ("rw,cpu,cpuacct"). */
  superOptions: string[];
}

/** Undo the octal escapes of proc_pid_mountinfo(5) (space \040, tab \011, newline \012, backslash \134). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * proc_pid_mountinfo(5): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
 * The optional fields end at the lone "-"; lines that do not parse are skipped.
 */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 10 || dash < 0 || fields.length < dash + 3) continue;
    mounts.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      fsType: fields[dash + 1]!,
      source: unescapeMountField(fields[dash + 2]!),
      superOptions: (fields[dash + 3] ?? '').split(',').filter((o) => o !== ''),
    });
  }
  return mounts;
}

export interface ProcCgroup {
  hierarchyId: number;
  /** v1: the controllers of that hierarchy (and "name=systemd"); v2: empty. */
  controllers: string[];
  /** Path relative to the reader's cgroup namespace root; may start with "/.." when outside it. */
  path: string;
}

/** cgroups(7) /proc/PID/cgroup: "hierarchy-ID:controller-list:cgroup-path" (the path may hold ':'). */
export function parseProcCgroup(text: string): ProcCgroup[] {
  const entries: ProcCgroup[] = [];
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const list = line.slice(first + 1, second);
    entries.push({
      hierarchyId: Number(line.slice(0, first)),
      controllers: list === '' ? [] : list.split(','),
      path: line.slice(second + 1),
    });
  }
  return entries;
}

/**
 * Flat keyed files: cpu.stat, memory.stat, memory.events, memory.oom_control, cpuacct.stat
 * ("key value" per line). Values that are not integers (e.g. "max") are left out.
 */
export function parseKeyValue(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const value = line.slice(space + 1).trim();
    if (!/^-?\d+$/.test(value)) continue;
    values.set(line.slice(0, space), Number(value));
  }
  return values;
}

/** A single-number file (cpuacct.usage, memory.max_usage_in_bytes, pids.current); null when it is not one. */
export function parseNumber(text: string): number | null {
  const value = text.trim();
  return /^-?\d+$/.test(value) ? Number(value) : null;
}

/** One pid per line (cgroup.procs, tasks). */
export function parsePids(text: string): number[] {
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const pid = Number(line);
    if (Number.isInteger(pid)) pids.push(pid);
  }
  return pids;
}

/**
 * Field 22 of proc_pid_stat(5), starttime in clock ticks since boot. The comm field (2) may hold
 * spaces and parentheses, so counting starts after its last ')'.
 */
export function parseStartTime(statText: string): number | null {
  const close = statText.lastIndexOf(')');
  if (close < 0) return null;
  // After ") " come fields 3 (state) ... 22 (starttime): index 19 of the rest.
  const rest = statText.slice(close + 2).split(' ');
  const value = rest[19];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

/**
 * Split an exact total by the user:sys proportion of a sampled split, the way the kernel itself
 * reports rusage (cputime_adjust in kernel/sched/cputime.c). With no sample (a run shorter than a
 * tick) it is all user time.
 */
export function splitCpu(totalUs: number, userWeight: number, sysWeight: number): { userUs: number; sysUs: number } {
  const weights = userWeight + sysWeight;
  if (weights <= 0) return { userUs: totalUs, sysUs: 0 };
  const userUs = Math.round((totalUs * userWeight) / weights);
  return { userUs, sysUs: totalUs - userUs };
}
