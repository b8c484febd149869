// Options → a checked, normalised configuration. Every message names the option, what was
// expected and what was given (optionError).
//
// One rule per option, here only: the CLI converts its strings to the typed values and calls the
// same check* functions with its flag's name, so `--cpus 100` and `cpuQuota: 100` fail alike.
// Counts and seconds are numbers; sizes are a number of bytes or a string with a unit ('256m'),
// the only place a string adds something a number cannot say.
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, posix } from 'node:path';
import { SandboxError, optionError } from './errors.js';
import type { BindMount, HostUser, RunOptions, SandboxOptions, SeccompOption, TmpfsMount, Ulimit } from './options.js';
import type { ImageRun } from './image/apply.js';
import type { ResolvedImage } from './image/types.js';
import type { AppliedLimits } from './result.js';
import { namedParentDirs } from './cgroup/index.js';
import { checkCpuset } from './cgroup/cpuset.js';
import { MAX_SECONDS, parseSize } from './units.js';

/** The limits are the ones a run reports as applied (RunResult.limits). */
export interface ResolvedConfig extends AppliedLimits {
  rootfs: string | null;
  /** The `image` option as given (a name, or a resolved image) and `entrypoint`; null without an image. */
  image: { ref: string | ResolvedImage; entrypoint: string[] | null } | null;
  /** The image resolved and its config applied (lib/image/apply.ts); null until then, and without an image. */
  imageRun: ImageRun | null;
  writable: boolean;
  writableSize: number;
  binds: Required<BindMount>[];
  tmpfs: { dst: string; size: number | null }[];
  env: Record<string, string>;
  cwd: string;
  hostname: string;
  network: 'none' | 'host';
  cgroupParent: string | null;
  requireCgroup: boolean;
  seccomp: SeccompOption;
  tty: boolean;
  idMap: 'single' | 'subordinate';
  /** Warm sandboxes kept for runs (lib/warm-pool.ts); 0: every run builds its own. */
  pool: number;
  /** How long a sandbox beyond the pool is kept warm after its run (lib/warm-pool.ts); 0: not at all. */
  idleTimeoutMs: number;
  /** The host identity the sandbox's ids map to (root callers); null: the default. */
  user: Required<HostUser> | null;
  /** Extra rlimits by RLIMIT number; the sandbox's own limits win where they are lower. */
  ulimits: { resource: number; soft: number; hard: number }[];
  /** Size of /dev/shm in bytes; null: the default. */
  shmSize: number | null;
  /** The CPUs the sandbox may run on ("0-1,3", canonical), enforced by a cpuset cgroup; null: any. */
  cpusetCpus: string | null;
}

export const DEFAULT_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
};

const KNOWN_OPTIONS = new Set([
  'rootfs',
  'binds',
  'tmpfs',
  'env',
  'cwd',
  'hostname',
  'network',
  'cpuQuota',
  'cpusetCpus',
  'memory',
  'pids',
  'timeLimit',
  'wallTimeLimit',
  'outputLimit',
  'cgroupParent',
  'requireCgroup',
  'seccomp',
  'tty',
  'idMap',
  'pool',
  'idleTimeout',
  'user',
  'ulimits',
  'shmSize',
  'image',
  'entrypoint',
  'writable',
  'writableSize',
]);
/** The writable layer's cap when `writableSize` is not given: 1 GiB, as the CLI's --writable-size. */
export const DEFAULT_WRITABLE_SIZE = 1 << 30;
/** Most argv or env entries (the launcher's bound, csrc/plan.cc). */
export const ARGV_MAX = 65536;
/** Most processes a pid namespace can hold anyway (PID_MAX_LIMIT on 64-bit, see proc(5)). */
export const PIDS_MAX = 4194304;
/** HOST_NAME_MAX (gethostname(2)). */
export const HOSTNAME_MAX = 64;
const HOSTNAME_RE = /^[A-Za-z0-9_.-]+$/;
/** The smallest CPU quota a CFS period of 100 ms takes: 1 ms (lib/cgroup/limits.ts). */
export const CPUS_MIN = 0.01;
/** Host ids are 32-bit; (uid_t)-1 means "no change" to the kernel and is never an identity. */
const ID_MAX = 0xfffffffe;
/** RLIMIT_* numbers --ulimit and `ulimits` know (asm-generic, the same on x86_64 and arm64). */
export const ULIMIT_RESOURCES: Readonly<Record<string, number>> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
};
/** Most warm sandboxes one Sandbox keeps (what each holds while idle: docs/api.md, "Warm sandboxes"). */
export const MAX_POOL = 256;
const KNOWN_RUN_OPTIONS = new Set(['stdin', 'stdout', 'stderr', 'env', 'cwd', 'timeLimit', 'wallTimeLimit', 'outputLimit', 'signal']);

function noNul(value: string, option: string): string {
  if (value.includes('\0')) throw optionError(option, 'a string without NUL bytes', value);
  return value;
}

export function checkString(value: unknown, option: string): string {
  if (typeof value !== 'string') throw optionError(option, 'a string', value);
  return noNul(value, option);
}

/** An absolute path without '..', normalised ('//', '.' and a trailing '/' removed). */
export function checkAbsolute(value: unknown, option: string): string {
  const s = checkString(value, option);
  if (!isAbsolute(s)) throw optionError(option, 'an absolute path', value);
  if (s.split('/').includes('..')) throw optionError(option, "an absolute path without '..'", value);
  return posix.normalize(s).replace(/(.)\/$/, '$1');
}

/** 1 to 64 letters, digits, '.', '-' or '_' (a name the UTS namespace and /etc/hosts both take). */
export function checkHostname(value: unknown, option: string): string {
  const s = checkString(value, option);
  if (!HOSTNAME_RE.test(s) || s.length > HOSTNAME_MAX) {
    throw optionError(option, `a hostname of 1 to ${HOSTNAME_MAX} letters, digits, '.', '-' or '_'`, value);
  }
  return s;
}

/** Cores, from CPUS_MIN to the CPUs this process may run on (docker's rule for --cpus). */
export function checkCpuQuota(value: unknown, option: string): number {
  const cpus = availableParallelism();
  if (typeof value !== 'number' || !Number.isFinite(value) || value < CPUS_MIN || value > cpus) {
    const there = cpus === 1 ? 'there is only 1 CPU' : `there are only ${cpus} CPUs`;
    throw optionError(option, `a number of CPUs from ${CPUS_MIN} to ${cpus} (${there})`, value);
  }
  return value;
}

export function checkPids(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > PIDS_MAX) {
    throw optionError(option, `a whole number from 1 to ${PIDS_MAX}`, value);
  }
  return value;
}

/** Seconds, a number greater than 0 and at most MAX_SECONDS (the longest a timer holds). */
export function checkSeconds(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_SECONDS) {
    throw optionError(option, `a number of seconds greater than 0 and at most ${MAX_SECONDS}`, value);
  }
  return value;
}

/**
 * A cgroup that exists: a directory under a cgroup mount point, or a cgroup path (docs/cli.md), read
 * as the cgroup layer reads it. Without a cgroup filesystem there is nothing to look in: the run
 * falls back to rlimits and says so.
 */
export function checkCgroupParent(value: unknown, option: string): string {
  const parent = checkAbsolute(value, option);
  const found = namedParentDirs(parent);
  if (found === null) return parent;
  let why: string | null = 'reason' in found ? found.reason : null;
  for (const dir of 'dirs' in found ? found.dirs : []) {
    if (why !== null) break;
    try {
      if (!statSync(dir).isDirectory()) why = `${dir} is not a directory`;
    } catch (e) {
      why =
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? `${dir} does not exist`
          : `${dir} cannot be read (${(e as NodeJS.ErrnoException).code})`;
    }
  }
  if (why !== null) throw new SandboxError(`${option} ${parent} is not an existing cgroup: ${why}`, { stage: 'options' });
  return parent;
}

/**
 * The host identity the sandbox's ids map to. Only root may choose one (another caller's own ids
 * are its only choice), and never root's: the command never runs as host root.
 */
export function checkUser(value: unknown, option: string): Required<HostUser> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw optionError(option, 'an object { uid, gid? }', value);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (key !== 'uid' && key !== 'gid') throw optionError(`${option}.${key}`, 'uid or gid', key);
  const id = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > ID_MAX) {
      throw optionError(`${option}.${name}`, `a host id from 1 to ${ID_MAX} (never 0: the command never runs as host root)`, v);
    }
    return v;
  };
  const uid = id(o.uid, 'uid');
  const gid = o.gid === undefined ? uid : id(o.gid, 'gid');
  const callerUid = process.getuid?.() ?? 0;
  const callerGid = process.getgid?.() ?? 0;
  if (callerUid !== 0 && (uid !== callerUid || gid !== callerGid)) {
    throw new SandboxError(`${option}: only root may choose the host identity; uid ${callerUid} runs as ${callerUid}:${callerGid}`, {
      stage: 'options',
    });
  }
  return { uid, gid };
}

/** rlimits by name: `{ nofile: 1024 }` or `{ nofile: { soft: 1024, hard: 4096 } }`; -1 is unlimited. */
export function checkUlimits(value: unknown, option: string): { resource: number; soft: number; hard: number }[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw optionError(option, 'an object of rlimits by name', value);
  const out: { resource: number; soft: number; hard: number }[] = [];
  const limit = (v: unknown, name: string): number => {
    if (v === -1) return -1;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw optionError(name, 'a whole number from 0, or -1 for unlimited', v);
    return v;
  };
  for (const [name, v] of Object.entries(value as Record<string, Ulimit>)) {
    const resource = ULIMIT_RESOURCES[name];
    if (resource === undefined || !Object.hasOwn(ULIMIT_RESOURCES, name)) {
      throw optionError(`${option} name`, `one of ${Object.keys(ULIMIT_RESOURCES).join(', ')}`, name);
    }
    let soft: number;
    let hard: number;
    if (typeof v === 'number') soft = hard = limit(v, `${option}.${name}`);
    else if (v !== null && typeof v === 'object') {
      soft = limit(v.soft, `${option}.${name}.soft`);
      hard = limit(v.hard, `${option}.${name}.hard`);
    } else throw optionError(`${option}.${name}`, 'a number or { soft, hard }', v);
    if (hard !== -1 && (soft === -1 || soft > hard))
      throw optionError(`${option}.${name}`, 'a soft limit no higher than the hard one', `${soft}:${hard}`);
    out.push({ resource, soft, hard });
  }
  return out;
}

function checkBool(value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') throw optionError(option, 'a boolean', value);
  return value;
}

export function checkEnv(value: unknown, option: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw optionError(option, 'an object of strings', value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > ARGV_MAX) throw optionError(option, `at most ${ARGV_MAX} variables`, entries.length);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k === '' || k.includes('=') || k.includes('\0')) throw optionError(`${option} key`, "a name without '=' or NUL", k);
    out[k] = checkString(v, `${option}.${k}`);
  }
  return out;
}

function optSize(value: unknown, option: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' && typeof value !== 'string') throw optionError(option, "a size such as 268435456 or '256m'", value);
  return parseSize(value, option);
}

function optSeconds(value: unknown, option: string): number | null {
  if (value === undefined || value === null) return null;
  return Math.round(checkSeconds(value, option) * 1000);
}

function checkBinds(value: unknown): Required<BindMount>[] {
  if (!Array.isArray(value)) throw optionError('binds', 'an array of { src, dst, rw? }', value);
  return value.map((b: unknown, i) => {
    if (b === null || typeof b !== 'object') throw optionError(`binds[${i}]`, 'an object { src, dst, rw? }', b);
    const o = b as Record<string, unknown>;
    const rw = o.rw === undefined ? false : checkBool(o.rw, `binds[${i}].rw`);
    return { src: checkAbsolute(o.src, `binds[${i}].src`), dst: checkAbsolute(o.dst, `binds[${i}].dst`), rw };
  });
}

function checkTmpfs(value: unknown): { dst: string; size: number | null }[] {
  if (!Array.isArray(value)) throw optionError('tmpfs', 'an array of { dst, size? }', value);
  return value.map((t: unknown, i) => {
    if (t === null || typeof t !== 'object') throw optionError(`tmpfs[${i}]`, 'an object { dst, size? }', t);
    const o = t as TmpfsMount;
    return { dst: checkAbsolute(o.dst, `tmpfs[${i}].dst`), size: optSize(o.size, `tmpfs[${i}].size`) };
  });
}

function checkSeccomp(value: unknown): SeccompOption {
  if (value === undefined) return 'default';
  if (value === 'default' || value === 'none') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const key of ['deny', 'allow'] as const) {
      const list = o[key];
      if (list !== undefined && (!Array.isArray(list) || list.some((s) => typeof s !== 'string'))) {
        throw optionError(`seccomp.${key}`, 'an array of system call names', list);
      }
    }
    return { deny: (o.deny as string[] | undefined) ?? [], allow: (o.allow as string[] | undefined) ?? [] };
  }
  throw optionError('seccomp', "'default', 'none' or { deny, allow }", value);
}

function unknownKeys(obj: object, known: Set<string>, what: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) throw optionError(`${what}.${key}`, `one of ${[...known].join(', ')}`, key);
  }
}

export function resolveOptions(options: SandboxOptions = {}): ResolvedConfig {
  if (options === null || typeof options !== 'object') throw optionError('options', 'an object', options);
  unknownKeys(options, KNOWN_OPTIONS, 'options');
  const o = options;
  const hostname = o.hostname === undefined ? 'sandbox' : checkHostname(o.hostname, 'hostname');
  if (o.network !== undefined && o.network !== 'none' && o.network !== 'host') throw optionError('network', "'none' or 'host'", o.network);
  if (o.idMap !== undefined && o.idMap !== 'single' && o.idMap !== 'subordinate')
    throw optionError('idMap', "'single' or 'subordinate'", o.idMap);
  const image = checkImage(o);
  if (image !== null && o.rootfs !== undefined && o.rootfs !== null)
    throw optionError('rootfs', 'no rootfs with image (they exclude each other)', o.rootfs);
  const writable = o.writable === undefined ? false : checkBool(o.writable, 'writable');
  if (writable && image === null && (o.rootfs === undefined || o.rootfs === null)) {
    throw optionError('writable', "writable only with image or rootfs (the default root is the host's, never writable)", o.writable);
  }
  const writableSize = optSize(o.writableSize, 'writableSize');
  if (writableSize !== null && !writable) throw optionError('writableSize', 'writableSize only with writable: true', o.writableSize);
  return {
    rootfs: o.rootfs === undefined || o.rootfs === null ? null : checkAbsolute(o.rootfs, 'rootfs'),
    image,
    imageRun: null,
    writable,
    writableSize: writableSize ?? DEFAULT_WRITABLE_SIZE,
    binds: o.binds === undefined ? [] : checkBinds(o.binds),
    tmpfs: o.tmpfs === undefined ? [] : checkTmpfs(o.tmpfs),
    env: { ...(image === null ? DEFAULT_ENV : {}), ...(o.env === undefined ? {} : checkEnv(o.env, 'env')) },
    cwd: o.cwd === undefined ? '/' : checkAbsolute(o.cwd, 'cwd'),
    hostname,
    network: o.network ?? 'none',
    cpuQuota: o.cpuQuota === undefined || o.cpuQuota === null ? null : checkCpuQuota(o.cpuQuota, 'cpuQuota'),
    cpusetCpus: o.cpusetCpus === undefined || o.cpusetCpus === null ? null : checkCpuset(o.cpusetCpus, 'cpusetCpus'),
    memoryBytes: optSize(o.memory, 'memory'),
    pids: o.pids === undefined || o.pids === null ? null : checkPids(o.pids, 'pids'),
    timeLimitMs: optSeconds(o.timeLimit, 'timeLimit'),
    wallTimeLimitMs: optSeconds(o.wallTimeLimit, 'wallTimeLimit'),
    outputLimitBytes: optSize(o.outputLimit, 'outputLimit'),
    cgroupParent: o.cgroupParent === undefined || o.cgroupParent === null ? null : checkCgroupParent(o.cgroupParent, 'cgroupParent'),
    requireCgroup: o.requireCgroup === undefined ? false : checkBool(o.requireCgroup, 'requireCgroup'),
    seccomp: checkSeccomp(o.seccomp),
    tty: o.tty === undefined ? false : checkBool(o.tty, 'tty'),
    idMap: o.idMap ?? 'single',
    pool: checkPool(o.pool),
    idleTimeoutMs: checkIdleTimeout(o.idleTimeout),
    user: o.user === undefined || o.user === null ? null : checkUser(o.user, 'user'),
    ulimits: o.ulimits === undefined || o.ulimits === null ? [] : checkUlimits(o.ulimits, 'ulimits'),
    shmSize: optSize(o.shmSize, 'shmSize'),
  };
}

function checkImage(o: SandboxOptions): { ref: string | ResolvedImage; entrypoint: string[] | null } | null {
  if (o.image === undefined || o.image === null) {
    if (o.entrypoint !== undefined) throw optionError('entrypoint', 'entrypoint only with image', o.entrypoint);
    return null;
  }
  let ref: string | ResolvedImage;
  if (typeof o.image === 'string') {
    if (o.image === '') throw optionError('image', 'an image name', o.image);
    ref = checkString(o.image, 'image');
  } else if (
    typeof o.image === 'object' &&
    Array.isArray(o.image.layers) &&
    typeof o.image.config === 'object' &&
    o.image.config !== null
  ) {
    checkString(o.image.ref, 'image.ref');
    for (const [i, l] of o.image.layers.entries()) checkAbsolute(l, `image.layers[${i}]`);
    if (o.image.flat !== null) checkAbsolute(o.image.flat, 'image.flat');
    const c = o.image.config;
    const strings = (v: unknown, name: string) => {
      if (v !== null && (!Array.isArray(v) || v.some((x) => typeof x !== 'string')))
        throw optionError(name, 'an array of strings or null', v);
    };
    strings(c.env, 'image.config.env');
    if (c.env === null) throw optionError('image.config.env', 'an array of strings', c.env);
    strings(c.entrypoint, 'image.config.entrypoint');
    strings(c.cmd, 'image.config.cmd');
    for (const key of ['workingDir', 'user'] as const) {
      if (c[key] !== null && typeof c[key] !== 'string') throw optionError(`image.config.${key}`, 'a string or null', c[key]);
    }
    ref = o.image;
  } else {
    throw optionError('image', 'an image name or a resolved image { ref, layers, flat, config }', o.image);
  }
  let entrypoint: string[] | null = null;
  if (o.entrypoint !== undefined) {
    if (!Array.isArray(o.entrypoint)) throw optionError('entrypoint', 'an array of strings', o.entrypoint);
    entrypoint = o.entrypoint.map((a, i) => checkString(a, `entrypoint[${i}]`));
  }
  return { ref, entrypoint };
}

/** A sandbox a run used stays warm this long (docs/api.md, "Warm sandboxes"): a loop's next run comes sooner. */
const DEFAULT_IDLE_TIMEOUT_MS = 2000;

/** The longest idleTimeout: an hour (a Node timer's range is far wider). */
const MAX_IDLE_TIMEOUT_S = 3600;

function checkIdleTimeout(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_IDLE_TIMEOUT_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_IDLE_TIMEOUT_S) {
    throw optionError('idleTimeout', `a number of seconds from 0 to ${MAX_IDLE_TIMEOUT_S}`, value);
  }
  return Math.round(value * 1000);
}

function checkPool(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_POOL) {
    throw optionError('pool', `an integer from 0 to ${MAX_POOL}`, value);
  }
  return value;
}

/** The sandbox's configuration with one run's options applied on top. */
export function applyRunOptions(base: ResolvedConfig, run: RunOptions = {}): ResolvedConfig {
  if (run === null || typeof run !== 'object') throw optionError('runOptions', 'an object', run);
  unknownKeys(run, KNOWN_RUN_OPTIONS, 'runOptions');
  return {
    ...base,
    env: run.env === undefined ? base.env : { ...base.env, ...checkEnv(run.env, 'runOptions.env') },
    cwd: run.cwd === undefined ? base.cwd : checkAbsolute(run.cwd, 'runOptions.cwd'),
    timeLimitMs: run.timeLimit === undefined ? base.timeLimitMs : optSeconds(run.timeLimit, 'runOptions.timeLimit'),
    wallTimeLimitMs: run.wallTimeLimit === undefined ? base.wallTimeLimitMs : optSeconds(run.wallTimeLimit, 'runOptions.wallTimeLimit'),
    outputLimitBytes: run.outputLimit === undefined ? base.outputLimitBytes : optSize(run.outputLimit, 'runOptions.outputLimit'),
  };
}

/** The command: 1 to ARGV_MAX strings without NUL, the first (the program) not empty. */
export function checkArgv(argv: unknown, option = 'argv'): string[] {
  if (!Array.isArray(argv) || argv.length === 0) throw optionError(option, 'a non-empty array of strings', argv);
  if (argv.length > ARGV_MAX) throw optionError(option, `at most ${ARGV_MAX} entries`, argv.length);
  const out = argv.map((a, i) => checkString(a, `${option}[${i}]`));
  if (out[0] === '') throw optionError(`${option}[0]`, 'a program name or path (not empty)', '');
  return out;
}
