// CPU lists ("0-3,6"), the form of cpuset.cpus and /sys/devices/system/cpu/online
// (Documentation/admin-guide/cgroup-v2.rst, "Cpuset Interface Files"; cgroup-v1/cpusets.rst).
import { readFileSync } from 'node:fs';
import { optionError } from '../errors.js';

/** The CPUs a list names, ascending; null when it is not a list. */
export function parseCpuList(text: string): number[] | null {
  const t = text.trim();
  if (!/^\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*$/.test(t)) return null;
  const out = new Set<number>();
  for (const part of t.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    const end = b ?? a;
    if (end < a) return null;
    for (let c = a; c <= end; c++) out.add(c);
  }
  return [...out].sort((x, y) => x - y);
}

/** The online CPUs (/sys/devices/system/cpu/online), or null when the file cannot be read. */
export function onlineCpus(): number[] | null {
  try {
    return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
  } catch {
    return null;
  }
}

/** `value` as the list the kernel is given; throws an option error naming `option` for a bad list or an offline CPU. */
export function checkCpuset(value: unknown, option: string, online: number[] | null = onlineCpus()): string {
  const cpus = typeof value === 'string' ? parseCpuList(value) : null;
  const here = online === null ? '' : ` (online here: ${formatCpuList(online)})`;
  if (cpus === null || cpus.length === 0) throw optionError(option, `a CPU list such as "0-1,3"${here}`, value);
  if (online !== null && cpus.some((c) => !online.includes(c))) throw optionError(option, `online CPUs only${here}`, value);
  return formatCpuList(cpus);
}

/** Ascending CPUs → "0-3,6". */
export function formatCpuList(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
