// The seccomp option turned into a BPF program. The sandbox's init installs it last, after
// PR_SET_NO_NEW_PRIVS and right before execve (seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)).

import { optionError, SandboxError } from '../errors.js';
import { assembleFilter, AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, retErrno, type FilterArch, type FilterRule } from './bpf.js';
import { defaultPrograms } from './default-programs.js';
import { defaultPolicy, ERRNO, type PolicyRule } from './policy.js';
import { syscallsArm64 } from './syscalls-arm64.js';
import { syscallsX64 } from './syscalls-x64.js';

export type SeccompArch = 'x64' | 'arm64';

export type SeccompChanges = { deny?: string[]; allow?: string[] };

interface ArchInfo {
  /** The kernel's name for it, used in messages. */
  name: string;
  table: ReadonlyMap<string, number>;
  filter: FilterArch;
}

const arches: Record<SeccompArch, ArchInfo> = {
  x64: { name: 'x86_64', table: syscallsX64, filter: { auditArch: AUDIT_ARCH_X86_64, refuseX32: true } },
  arm64: { name: 'aarch64', table: syscallsArm64, filter: { auditArch: AUDIT_ARCH_AARCH64, refuseX32: false } },
};

/** Every name the default policy denies, at least in part (clone, ioctl and personality by argument). */
export const defaultDenied: readonly string[] = Object.freeze(defaultPolicy.map((r) => r.name));

/**
 * The seccomp program for `option` as struct sock_filter[] bytes (little-endian, as both arches
 * are), or null for 'none'. `deny` adds calls to the default deny list (EPERM); `allow` removes
 * calls from it. A name that exists only on the other architecture (iopl on arm64) is accepted and
 * has nothing to do, so one policy serves both; a name known on neither is an error.
 */
export function buildSeccompProgram(
  option: 'default' | 'none' | SeccompChanges,
  arch: SeccompArch = process.arch as SeccompArch,
): Buffer | null {
  const changes = checkOption(option);
  if (changes === null) return null;
  if (!Object.hasOwn(arches, arch)) {
    throw optionError('seccomp', "a machine the filter supports (x64 or arm64), or seccomp: 'none'", arch);
  }
  // The default program, assembled when the package was built (default-programs.ts): assembling
  // it cold is 3-4 ms of a CLI run's start-up. A unit test checks it is what assembling gives.
  if (option === 'default') return Buffer.from(defaultPrograms[arch], 'base64');
  return assembleProgram(changes, arch);
}

/** buildSeccompProgram() without the prebuilt default: what default-programs.ts must hold. */
export function assembleProgram(changes: SeccompChanges, arch: SeccompArch): Buffer {
  const info = arches[arch];
  const deny = checkNames(changes.deny, 'seccomp.deny', info);
  const allow = checkNames(changes.allow, 'seccomp.allow', info);
  for (const name of allow) {
    if (deny.includes(name)) throw optionError('seccomp.allow', 'names not also in seccomp.deny', name);
  }

  const rules = new Map<string, PolicyRule>(defaultPolicy.map((r) => [r.name, r]));
  for (const name of allow) rules.delete(name);
  for (const name of deny) {
    // An unconditional default stays as it is: clone3 must keep failing with ENOSYS, or glibc
    // would not fall back to clone. A conditional one (ioctl, clone, personality) becomes total.
    const existing = rules.get(name);
    if (existing !== undefined && existing.when === undefined) continue;
    rules.set(name, { name, errno: 'EPERM' });
  }

  const filterRules: FilterRule[] = [];
  for (const rule of rules.values()) {
    const nr = info.table.get(rule.name);
    if (nr === undefined) continue; // e.g. iopl on arm64: the call does not exist there
    const fr: FilterRule = { nr, action: retErrno(ERRNO[rule.errno]) };
    if (rule.when !== undefined) fr.when = rule.when;
    filterRules.push(fr);
  }
  return assembleFilter(info.filter, filterRules);
}

/**
 * Reads the CLI's `--seccomp FILE`: JSON `{"deny": [names], "allow": [names]}`, both optional.
 * Names are checked against both architectures' tables here and against the target's when built.
 */
export function parseSeccompFile(text: string): SeccompChanges {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/\s+/g, ' ') : String(err);
    throw new SandboxError(`Expected JSON in the --seccomp file but it does not parse: ${why}`, {
      stage: 'options',
      cause: err,
    });
  }
  const where = 'the --seccomp file';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(where, 'an object like {"deny": [...], "allow": [...]}', value);
  }
  const out: SeccompChanges = {};
  for (const [key, list] of Object.entries(value)) {
    if (key !== 'deny' && key !== 'allow') throw optionError(where, 'only the keys "deny" and "allow"', key);
    out[key] = checkNameList(list, `"${key}" in ${where}`, 'x86_64 or aarch64');
  }
  return out;
}

// → null for 'none', the changes otherwise ('default' has none).
function checkOption(option: unknown): SeccompChanges | null {
  if (option === 'none') return null;
  if (option === 'default') return {};
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw optionError('seccomp', "'default', 'none' or { deny, allow }", option);
  }
  for (const key of Object.keys(option)) {
    if (key !== 'deny' && key !== 'allow') throw optionError('seccomp', 'only the keys deny and allow', key);
  }
  return option as SeccompChanges;
}

function checkNames(list: unknown, option: string, info: ArchInfo): string[] {
  if (list === undefined) return [];
  return checkNameList(list, option, info.name);
}

// Accepts names known on either arch (see buildSeccompProgram); archText is what the message names.
function checkNameList(list: unknown, option: string, archText: string): string[] {
  if (!Array.isArray(list)) throw optionError(option, 'an array of system call names', list);
  const names: string[] = [];
  for (const name of list as unknown[]) {
    if (typeof name !== 'string' || !knownAnywhere(name)) {
      throw optionError(option, `a system call name known on ${archText}`, name);
    }
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

function knownAnywhere(name: string): boolean {
  return syscallsX64.has(name) || syscallsArm64.has(name);
}
