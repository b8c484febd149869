// Options → a checked, normalised configuration. Every message names the option, what was
// expected and what was given (optionError).
import { isAbsolute } from 'node:path';
import { optionError } from './errors.js';
import type { BindMount, RunOptions, SandboxOptions, SeccompOption, TmpfsMount } from './options.js';
import type { ImageRun } from './image/apply.js';
import type { ResolvedImage } from './image/types.js';
import type { AppliedLimits } from './result.js';
import { parseSeconds, parseSize } from './units.js';

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
}

export const DEFAULT_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
};

const KNOWN_OPTIONS = new Set([
  'rootfs', 'binds', 'tmpfs', 'env', 'cwd', 'hostname', 'network', 'cpuQuota', 'memory', 'pids', 'timeLimit',
  'wallTimeLimit', 'outputLimit', 'cgroupParent', 'requireCgroup', 'seccomp', 'tty', 'idMap', 'pool',
  'image', 'entrypoint', 'writable', 'writableSize',
]);
/** The writable layer's cap when `writableSize` is not given: 1 GiB, as CONTRACT's --writable-size. */
export const DEFAULT_WRITABLE_SIZE = 1 << 30;
/** Most warm sandboxes one Sandbox keeps (each is an idle init: ~0.1 MiB and a few fds). */
export const MAX_POOL = 256;
const KNOWN_RUN_OPTIONS = new Set([
  'stdin', 'stdout', 'stderr', 'env', 'cwd', 'timeLimit', 'wallTimeLimit', 'outputLimit', 'signal',
]);

function noNul(value: string, option: string): string {
  if (value.includes('\0')) throw optionError(option, 'a string without NUL bytes', value);
  return value;
}

export function checkString(value: unknown, option: string): string {
  if (typeof value !== 'string') throw optionError(option, 'a string', value);
  return noNul(value, option);
}

export function checkAbsolute(value: unknown, option: string): string {
  const s = checkString(value, option);
  if (!isAbsolute(s)) throw optionError(option, 'an absolute path', value);
  if (s.split('/').includes('..')) throw optionError(option, "a path without '..'", value);
  return s;
}

function checkBool(value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') throw optionError(option, 'a boolean', value);
  return value;
}

export function checkEnv(value: unknown, option: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw optionError(option, 'an object of strings', value);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === '' || k.includes('=') || k.includes('\0')) throw optionError(`${option} key`, "a name without '=' or NUL", k);
    out[k] = checkString(v, `${option}.${k}`);
  }
  return out;
}

function checkPositive(value: unknown, option: string, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw optionError(option, integer ? 'a positive integer' : 'a positive number', value);
  }
  return value;
}

function optSize(value: unknown, option: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' && typeof value !== 'string') throw optionError(option, "a size such as 268435456 or '256m'", value);
  return parseSize(value, option);
}

function optSeconds(value: unknown, option: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' && typeof value !== 'string') throw optionError(option, 'a number of seconds', value);
  return Math.round(parseSeconds(value, option) * 1000);
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
  const hostname = o.hostname === undefined ? 'sandbox' : checkString(o.hostname, 'hostname');
  if (hostname.length === 0 || hostname.length > 64) throw optionError('hostname', 'a name of 1 to 64 characters', hostname);
  if (o.network !== undefined && o.network !== 'none' && o.network !== 'host') throw optionError('network', "'none' or 'host'", o.network);
  if (o.idMap !== undefined && o.idMap !== 'single' && o.idMap !== 'subordinate') throw optionError('idMap', "'single' or 'subordinate'", o.idMap);
  const image = checkImage(o);
  if (image !== null && o.rootfs !== undefined && o.rootfs !== null) throw optionError('rootfs', 'no rootfs with image (they exclude each other)', o.rootfs);
  const writable = o.writable === undefined ? false : checkBool(o.writable, 'writable');
  if (writable && image === null && (o.rootfs === undefined || o.rootfs === null)) {
    throw optionError('writable', 'writable only with image or rootfs (the default root is the host\'s, never writable)', o.writable);
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
    cpuQuota: o.cpuQuota === undefined || o.cpuQuota === null ? null : checkPositive(o.cpuQuota, 'cpuQuota', false),
    memoryBytes: optSize(o.memory, 'memory'),
    pids: o.pids === undefined || o.pids === null ? null : checkPositive(o.pids, 'pids', true),
    timeLimitMs: optSeconds(o.timeLimit, 'timeLimit'),
    wallTimeLimitMs: optSeconds(o.wallTimeLimit, 'wallTimeLimit'),
    outputLimitBytes: optSize(o.outputLimit, 'outputLimit'),
    cgroupParent: o.cgroupParent === undefined || o.cgroupParent === null ? null : checkAbsolute(o.cgroupParent, 'cgroupParent'),
    requireCgroup: o.requireCgroup === undefined ? false : checkBool(o.requireCgroup, 'requireCgroup'),
    seccomp: checkSeccomp(o.seccomp),
    tty: o.tty === undefined ? false : checkBool(o.tty, 'tty'),
    idMap: o.idMap ?? 'single',
    pool: checkPool(o.pool),
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
  } else if (typeof o.image === 'object' && Array.isArray(o.image.layers) && typeof o.image.config === 'object' && o.image.config !== null) {
    checkString(o.image.ref, 'image.ref');
    o.image.layers.forEach((l, i) => checkAbsolute(l, `image.layers[${i}]`));
    if (o.image.flat !== null) checkAbsolute(o.image.flat, 'image.flat');
    const c = o.image.config;
    const strings = (v: unknown, name: string) => {
      if (v !== null && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) throw optionError(name, 'an array of strings or null', v);
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

/** `mayBeEmpty`: in an image, where an empty argv means the image's own command. */
export function checkArgv(argv: unknown, mayBeEmpty = false): string[] {
  if (!Array.isArray(argv) || (argv.length === 0 && !mayBeEmpty)) throw optionError('argv', 'a non-empty array of strings', argv);
  return argv.map((a, i) => checkString(a, `argv[${i}]`));
}
