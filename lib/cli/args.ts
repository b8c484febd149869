// `sandbox exec [OPTIONS] [--] COMMAND [ARG...]`: argv → SandboxOptions + RunOptions (docs/cli.md).
// Pure apart from reading a --seccomp or --env-file FILE and the caller's value of a bare `-e KEY`.
// Strings become typed values here; each value is then checked by lib/validate.ts, the rule the API
// uses too, under the flag's name.
import { readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { errorText } from '../errno.js';
import { SandboxError, optionError } from '../errors.js';
import type { SandboxOptions, RunOptions, Ulimit } from '../options.js';
import { parseSeccompFile } from '../seccomp/index.js';
import { parseSeconds, parseSize } from '../units.js';
import {
  checkAbsolute,
  checkArgv,
  checkCgroupParent,
  checkCpuQuota,
  checkHostname,
  checkPids,
  checkSeconds,
  checkUlimits,
  checkUser,
} from '../validate.js';
import { DOCKER_REFUSED } from './docker-flags.js';
import { checkCpuset } from '../cgroup/cpuset.js';

export interface ExecOutput {
  /** --result FILE: the RunResult as JSON ('-': stdout). */
  result: string | null;
  /** --json: the RunResult as one line of JSON on stderr. */
  json: boolean;
  /** --meta FILE: isolate's meta-file format ('-': stdout). */
  meta: string | null;
  /** --quiet: no notices on stderr (a limit that fell back, a limit that killed the command). */
  quiet: boolean;
}

export interface ExecInvocation {
  options: SandboxOptions;
  /** stdin/stdout/stderr are 'inherit' or `{ file }` (an absolute host path). */
  run: RunOptions;
  command: string[];
  output: ExecOutput;
  /** --help was given before the command: print help, run nothing (command may be empty). */
  help: boolean;
}

/** A seccomp policy or an env file is short; refuse anything that cannot be one. */
const SMALL_FILE_MAX = 1 << 20;

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DECIMAL_RE = /^(\d+(?:\.\d*)?|\.\d+)$/;

/** The invocation being built: the repeatable options are always present. */
interface Parse extends ExecInvocation {
  options: SandboxOptions & Required<Pick<SandboxOptions, 'binds' | 'tmpfs' | 'env'>>;
  ulimits: Record<string, Ulimit>;
  /** --memory-swap, checked against --memory once all flags are read. */
  memorySwap: { value: number; flag: string } | null;
}

/** Sections of `sandbox exec --help`. */
export type FlagGroup = 'Filesystem' | 'Process' | 'Limits' | 'Input and output' | 'Other';

export interface Flag {
  long: string;
  short?: string;
  /** Takes a value (`--opt value`, `--opt=value`, `-xvalue`). */
  value: boolean;
  /** For help: the value's kind as docker's help names it (string, list, bytes, decimal, ...). */
  type?: string;
  group: FlagGroup;
  help: string;
  /** Not listed in help (another spelling of a listed flag). */
  alias?: boolean;
  apply(p: Parse, value: string, flag: string, hostEnv: NodeJS.ProcessEnv): void;
}

export const FLAGS: Flag[] = [
  {
    long: 'rootfs',
    value: true,
    type: 'path',
    group: 'Filesystem',
    help: 'Root directory of the sandbox, or a rootfs/image archive to import and run (default: a read-only view of the host)',
    apply: (p, v, f) => (p.options.rootfs = hostPath(v, f)),
  },
  {
    long: 'image',
    value: true,
    type: 'string',
    group: 'Filesystem',
    help: 'Run in an image of the store: its Env, WorkingDir, User apply; no COMMAND runs its Entrypoint + Cmd',
    apply: (p, v, f) => (p.options.image = nonEmpty(v, f, 'an image name')),
  },
  // docker's --entrypoint: one executable; "" clears the image's Entrypoint.
  {
    long: 'entrypoint',
    value: true,
    type: 'string',
    group: 'Filesystem',
    help: 'Replace the image\'s Entrypoint (and drop its Cmd); "" clears it',
    apply: (p, v) => (p.options.entrypoint = v === '' ? [] : [v]),
  },
  {
    long: 'writable',
    value: false,
    group: 'Filesystem',
    help: "With --image or --rootfs: a writable root, changes on a tmpfs of the run's own, discarded at its end",
    apply: (p) => (p.options.writable = true),
  },
  {
    long: 'writable-size',
    value: true,
    type: 'bytes',
    group: 'Filesystem',
    help: 'Cap of the writable layer (default 1g; it is memory: it counts toward --memory)',
    apply: (p, v, f) => (p.options.writableSize = parseSize(v, f)),
  },
  {
    long: 'bind',
    short: 'v',
    value: true,
    type: 'list',
    group: 'Filesystem',
    help: 'Bind mount SRC:DST[:ro|rw], read-only unless :rw (writes: see --user)',
    apply: (p, v, f) => p.options.binds.push(parseBind(v, f)),
  },
  {
    long: 'volume',
    value: true,
    type: 'list',
    group: 'Filesystem',
    help: 'Same as --bind',
    alias: true,
    apply: (p, v, f) => p.options.binds.push(parseBind(v, f)),
  },
  {
    long: 'mount',
    value: true,
    type: 'mount',
    group: 'Filesystem',
    help: "type=bind|tmpfs,src=SRC,dst=DST[,readonly][,tmpfs-size=SIZE] (docker's form)",
    apply: (p, v, f) => parseMount(p, v, f),
  },
  {
    long: 'tmpfs',
    value: true,
    type: 'list',
    group: 'Filesystem',
    help: 'Mount a tmpfs at DST[:SIZE] or DST:rw,size=SIZE',
    apply: (p, v, f) => p.options.tmpfs.push(parseTmpfs(v, f)),
  },
  {
    long: 'shm-size',
    value: true,
    type: 'bytes',
    group: 'Filesystem',
    help: 'Size of /dev/shm',
    apply: (p, v, f) => (p.options.shmSize = parseSize(v, f)),
  },
  {
    long: 'workdir',
    short: 'w',
    value: true,
    type: 'string',
    group: 'Filesystem',
    help: 'Working directory inside (default /)',
    apply: (p, v, f) => (p.options.cwd = checkAbsolute(v, f)),
  },
  {
    long: 'env',
    short: 'e',
    value: true,
    type: 'list',
    group: 'Process',
    help: "Set KEY=VALUE; -e KEY copies the caller's value if set (default: only PATH and HOME=/tmp)",
    apply: (p, v, f, env) => parseEnv(p.options.env, v, f, env),
  },
  {
    long: 'env-file',
    value: true,
    type: 'list',
    group: 'Process',
    help: 'Read variables from a file of KEY=VALUE lines (# comments)',
    apply: (p, v, f, env) => parseEnvFile(p.options.env, v, f, env),
  },
  {
    long: 'user',
    short: 'u',
    value: true,
    type: 'string',
    group: 'Process',
    help: 'Root callers: the host UID[:GID] the sandbox maps to (default 65534); inside it is uid 1000',
    apply: (p, v, f) => (p.options.user = parseUser(v, f)),
  },
  {
    long: 'hostname',
    value: true,
    type: 'string',
    group: 'Process',
    help: 'Hostname inside (default sandbox)',
    apply: (p, v, f) => (p.options.hostname = checkHostname(v, f)),
  },
  {
    long: 'network',
    value: true,
    type: 'string',
    group: 'Process',
    help: "none: a loopback of its own (default); host: the host's network",
    apply: (p, v, f) => (p.options.network = parseNet(v, f)),
  },
  {
    long: 'net',
    value: true,
    type: 'string',
    group: 'Process',
    help: 'Same as --network',
    alias: true,
    apply: (p, v, f) => (p.options.network = parseNet(v, f)),
  },
  {
    long: 'seccomp',
    value: true,
    type: 'string',
    group: 'Process',
    help: 'System-call filter: default, none or a policy FILE',
    apply: (p, v, f) => (p.options.seccomp = parseSeccomp(v, f)),
  },
  { long: 'interactive', short: 'i', value: false, group: 'Process', help: 'Accepted: stdin is passed through anyway', apply: () => {} },
  {
    long: 'tty',
    short: 't',
    value: false,
    group: 'Process',
    help: 'Give the command a pseudo-terminal of its own (TERM from the caller)',
    apply: (p) => (p.options.tty = true),
  },
  { long: 'init', value: false, group: 'Process', help: "Accepted: pid 1 is always the sandbox's own init", apply: () => {} },
  { long: 'rm', value: false, group: 'Process', help: 'Accepted: every sandbox is removed when its command ends', apply: () => {} },
  {
    long: 'cpus',
    value: true,
    type: 'decimal',
    group: 'Limits',
    help: 'CPU quota in cores (0.5 = half a core)',
    apply: (p, v, f) => (p.options.cpuQuota = parseCpus(v, f)),
  },
  {
    long: 'cpuset-cpus',
    value: true,
    type: 'list',
    group: 'Limits',
    help: 'CPUs the command may run on, e.g. 0-1,3 (a cpuset cgroup; refused where there is none)',
    apply: (p, v, f) => (p.options.cpusetCpus = checkCpuset(v, f)),
  },
  {
    long: 'memory',
    short: 'm',
    value: true,
    type: 'bytes',
    group: 'Limits',
    help: 'Memory cap, swap included',
    apply: (p, v, f) => (p.options.memory = parseSize(v, f)),
  },
  {
    long: 'memory-swap',
    value: true,
    type: 'bytes',
    group: 'Limits',
    help: 'Accepted when equal to --memory (which includes swap)',
    apply: (p, v, f) => (p.memorySwap = { value: parseSize(v, f), flag: f }),
  },
  {
    long: 'pids',
    value: true,
    type: 'int',
    group: 'Limits',
    help: 'Most processes and threads at once (init counts)',
    apply: (p, v, f) => (p.options.pids = parsePids(v, f)),
  },
  {
    long: 'pids-limit',
    value: true,
    type: 'int',
    group: 'Limits',
    help: 'Same as --pids',
    alias: true,
    apply: (p, v, f) => (p.options.pids = parsePids(v, f)),
  },
  {
    long: 'time-limit',
    value: true,
    type: 'seconds',
    group: 'Limits',
    help: 'CPU time limit (user+sys, whole process tree)',
    apply: (p, v, f) => (p.options.timeLimit = checkSeconds(parseSeconds(v, f), f)),
  },
  {
    long: 'wall-time-limit',
    value: true,
    type: 'seconds',
    group: 'Limits',
    help: 'Wall-clock time limit',
    apply: (p, v, f) => (p.options.wallTimeLimit = checkSeconds(parseSeconds(v, f), f)),
  },
  {
    long: 'output-limit',
    value: true,
    type: 'bytes',
    group: 'Limits',
    help: 'Most bytes on stdout, and separately on stderr',
    apply: (p, v, f) => (p.options.outputLimit = parseSize(v, f)),
  },
  {
    long: 'ulimit',
    value: true,
    type: 'ulimit',
    group: 'Limits',
    help: 'rlimit NAME=SOFT[:HARD] (nofile, nproc, core, stack, ...; -1 or unlimited)',
    apply: (p, v, f) => parseUlimit(p, v, f),
  },
  {
    long: 'cgroup-parent',
    value: true,
    type: 'string',
    group: 'Limits',
    help: "Create the sandbox's cgroup under this existing cgroup (a path under a cgroup mount, or a cgroup path)",
    apply: (p, v, f) => (p.options.cgroupParent = checkCgroupParent(v, f)),
  },
  {
    long: 'require-cgroup',
    value: false,
    group: 'Limits',
    help: 'Fail (125) rather than fall back to rlimits without a usable cgroup',
    apply: (p) => (p.options.requireCgroup = true),
  },
  {
    long: 'stdin',
    value: true,
    type: 'path',
    group: 'Input and output',
    help: "Read stdin from a file (default: this process's)",
    apply: (p, v, f) => (p.run.stdin = { file: hostPath(v, f) }),
  },
  {
    long: 'stdout',
    value: true,
    type: 'path',
    group: 'Input and output',
    help: 'Write stdout to a file',
    apply: (p, v, f) => (p.run.stdout = { file: hostPath(v, f) }),
  },
  {
    long: 'stderr',
    value: true,
    type: 'path',
    group: 'Input and output',
    help: 'Write stderr to a file',
    apply: (p, v, f) => (p.run.stderr = { file: hostPath(v, f) }),
  },
  {
    long: 'result',
    value: true,
    type: 'path',
    group: 'Input and output',
    help: 'Write the RunResult as JSON to a file (- for stdout)',
    apply: (p, v, f) => (p.output.result = reportPath(v, f)),
  },
  {
    long: 'json',
    value: false,
    group: 'Input and output',
    help: 'Print the RunResult as one line of JSON on stderr after the run',
    apply: (p) => (p.output.json = true),
  },
  {
    long: 'meta',
    value: true,
    type: 'path',
    group: 'Input and output',
    help: "Write the run in isolate's meta-file format (- for stdout)",
    apply: (p, v, f) => (p.output.meta = reportPath(v, f)),
  },
  {
    long: 'quiet',
    short: 'q',
    value: false,
    group: 'Input and output',
    help: 'No notices on stderr (limits that fell back, a limit that killed the command)',
    apply: (p) => (p.output.quiet = true),
  },
  { long: 'help', short: 'h', value: false, group: 'Other', help: 'Print this help', apply: (p) => (p.help = true) },
];

const BY_LONG = new Map(FLAGS.map((f) => [f.long, f]));
const BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));

/**
 * Parses everything after `sandbox exec`. The command starts after `--`, or at the first word that
 * is not an option or an option's value (as in `docker run IMAGE CMD`); everything from there on
 * belongs to the command. `-e KEY` without `=` copies KEY from `hostEnv` when it is set there and
 * sets nothing otherwise (docker's rule). Throws a SandboxError (stage 'options') whose message is
 * one line naming the flag and the problem.
 */
export function parseExecArgs(argv: string[], hostEnv: NodeJS.ProcessEnv = process.env, cwd?: string): ExecInvocation {
  const { options, run, command, output, help } = parseIn(cwd, () => parse(argv, hostEnv, false));
  return { options, run, command, output, help };
}

/**
 * Parses everything after `sandbox run`: `[OPTIONS] IMAGE [COMMAND [ARG...]]`, docker's spelling of
 * `exec --image IMAGE [OPTIONS] [-- COMMAND [ARG...]]`.
 */
export function parseRunArgs(argv: string[], hostEnv: NodeJS.ProcessEnv = process.env, cwd?: string): ExecInvocation {
  const { options, run, command, output, help } = parseIn(cwd, () => parse(argv, hostEnv, true));
  return { options, run, command, output, help };
}

/** The directory relative host paths are resolved against: the caller's (the `sandbox` server
 * parses for clients in other directories), else this process's. Set only during a parse, which is
 * synchronous, so concurrent callers never see each other's. */
let baseDir: string | undefined;

function parseIn<T>(cwd: string | undefined, f: () => T): T {
  baseDir = cwd;
  try {
    return f();
  } finally {
    baseDir = undefined;
  }
}

function resolve(path: string): string {
  return baseDir === undefined ? resolvePath(path) : resolvePath(baseDir, path);
}

function parse(argv: string[], hostEnv: NodeJS.ProcessEnv, imageFirst: boolean): Parse {
  const p: Parse = {
    options: { binds: [], tmpfs: [], env: {} },
    run: { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' },
    command: [],
    output: { result: null, json: false, meta: null, quiet: false },
    help: false,
    ulimits: {},
    memorySwap: null,
  };

  let i = 0;
  const takeValue = (flag: string): string => {
    if (i >= argv.length) throw usageError(`${flag} needs a value`);
    return checkNul(argv[i++]!, flag);
  };

  while (i < argv.length) {
    const arg = argv[i++]!;
    if (arg === '--') break;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const flag = `--${name}`;
      const spec = BY_LONG.get(name);
      if (spec === undefined) throw unknownFlag(arg.slice(0, eq === -1 ? arg.length : eq));
      if (!spec.value && eq !== -1) throw usageError(`${flag} takes no value (received ${quote(arg.slice(eq + 1))})`);
      const value = spec.value ? (eq === -1 ? takeValue(flag) : checkNul(arg.slice(eq + 1), flag)) : '';
      spec.apply(p, value, flag, hostEnv);
      if (p.help) return p;
    } else if (arg.startsWith('-') && arg.length > 1) {
      // A cluster of short options, getopt style: `-it`, `-e K=V`, `-eK=V`, and `-e=K=V` as pflag
      // (docker's parser) reads it.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const flag = `-${letter}`;
        const spec = BY_SHORT.get(letter);
        if (spec === undefined) throw unknownFlag(flag, letter, j === 1 ? null : arg);
        if (!spec.value) {
          spec.apply(p, '', flag, hostEnv);
          if (p.help) return p;
          continue;
        }
        const rest = arg.slice(j + 1);
        const value = rest.startsWith('=') ? rest.slice(1) : rest !== '' ? rest : takeValue(flag);
        checkNul(value, flag);
        spec.apply(p, value, flag, hostEnv);
        break;
      }
    } else {
      i--; // the first word of the command
      break;
    }
  }

  if (imageFirst && !p.help) {
    if (p.options.image !== undefined) throw usageError('sandbox run takes the image as its first word, not --image');
    if (i >= argv.length) throw usageError('missing image: usage is sandbox run [OPTIONS] IMAGE [COMMAND [ARG...]]');
    p.options.image = nonEmpty(checkNul(argv[i++]!, 'the image'), 'the image', 'an image name');
  }
  p.command = argv.slice(i);
  for (const [n, word] of p.command.entries()) checkNul(word, n === 0 ? 'the command' : `argument ${n} of the command`);
  const image = p.options.image !== undefined;
  if (image && p.options.rootfs !== undefined) throw usageError('--image and --rootfs exclude each other');
  if (p.options.writable === true && !image && p.options.rootfs === undefined) throw usageError('--writable needs --image or --rootfs');
  if (p.options.writableSize !== undefined && p.options.writable !== true) throw usageError('--writable-size needs --writable');
  if (p.options.entrypoint !== undefined && !image) throw usageError('--entrypoint needs --image');
  // In an image, no command means the image's own (Entrypoint + Cmd).
  if (p.command.length === 0 && !image) {
    throw usageError('missing command: usage is sandbox exec [OPTIONS] [--] COMMAND [ARG...]');
  }
  if (p.command.length > 0) {
    if (p.command[0] === '') throw usageError("the command is empty: name a program, e.g. sandbox exec -- sh -c '...'");
    checkArgv(p.command, 'the command');
  }
  if (Object.keys(p.ulimits).length > 0) {
    checkUlimits(p.ulimits, '--ulimit');
    p.options.ulimits = p.ulimits;
  }
  if (p.memorySwap !== null) checkMemorySwap(p.memorySwap, p.options.memory);
  // A terminal program needs to know what the terminal is: the caller's (docker sets TERM with -t too).
  if (p.options.tty === true && !Object.hasOwn(p.options.env, 'TERM')) p.options.env.TERM = hostEnv.TERM || 'xterm';
  return p;
}

// ---- errors -----------------------------------------------------------------------------------

function usageError(message: string): SandboxError {
  return new SandboxError(message, { stage: 'options' });
}

function unknownFlag(flag: string, letter?: string, cluster: string | null = null): SandboxError {
  const refused = DOCKER_REFUSED.get(flag);
  if (refused !== undefined) return usageError(`${flag} is not supported: ${refused}`);
  let hint = "; see 'sandbox exec --help'";
  if (letter === undefined) {
    const near = closest(flag.slice(2));
    if (near !== null) hint = `; did you mean --${near}?`;
  }
  const where = cluster === null ? '' : ` (in ${quote(cluster)})`;
  return usageError(`unknown option ${quote(flag, true)}${where}${hint}`);
}

/** The long option nearest in spelling (edit distance at most 2), for a typo's hint. */
function closest(name: string): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  if (name.length > 40) return null;
  for (const long of BY_LONG.keys()) {
    const d = distance(name, long);
    if (d < bestDistance) [best, bestDistance] = [long, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, k) => k);
  for (let x = 1; x <= a.length; x++) {
    const cur = [x];
    for (let y = 1; y <= b.length; y++) {
      cur[y] = Math.min(prev[y]! + 1, cur[y - 1]! + 1, prev[y - 1]! + (a[x - 1] === b[y - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** A user's string in a one-line message: JSON-quoted (so \n, NUL, U+2028 are escaped) and cut short. */
function quote(s: string, bare = false): string {
  const cut = s.length > 60 ? s.slice(0, 57) + '...' : s;
  const json = JSON.stringify(cut)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return bare && json === `"${cut}"` && /^[\x21-\x7e]+$/.test(cut) ? cut : json;
}

function checkNul(value: string, what: string): string {
  if (value.includes('\0')) throw usageError(`${what}: ${quote(value)} contains a NUL byte`);
  return value;
}

// ---- values -----------------------------------------------------------------------------------

function nonEmpty(value: string, flag: string, expected: string): string {
  if (value === '') throw optionError(flag, expected, value);
  return value;
}

/** A path on the host, resolved against the current directory. */
function hostPath(value: string, flag: string): string {
  return resolve(nonEmpty(value, flag, 'a path'));
}

/** A report file: a host path, or '-' for stdout. */
function reportPath(value: string, flag: string): string {
  return value === '-' ? '-' : hostPath(value, flag);
}

/** `SRC:DST[:ro|rw]`; SRC is a host path (relative to the current directory), DST absolute inside. */
function parseBind(value: string, flag: string): { src: string; dst: string; rw: boolean } {
  const parts = value.split(':');
  let rw = false;
  if (parts.length === 3) {
    const mode = parts.pop()!;
    if (mode !== 'ro' && mode !== 'rw') throw optionError(flag, 'SRC:DST[:ro|rw] with a mode of ro or rw', value);
    rw = mode === 'rw';
  }
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw optionError(flag, 'SRC:DST[:ro|rw] (e.g. ./data:/data:ro)', value);
  }
  return { src: resolve(parts[0]!), dst: checkAbsolute(parts[1]!, flag), rw };
}

/**
 * `DST[:SIZE]`, or docker's `DST:OPTIONS` with OPTIONS a comma list of rw, size=SIZE, mode=1777,
 * nosuid, nodev (a sandbox's tmpfs is always writable, mode 1777, nosuid and nodev).
 */
function parseTmpfs(value: string, flag: string): { dst: string; size?: number } {
  const colon = value.indexOf(':');
  if (colon === -1) return { dst: checkAbsolute(value, flag) };
  const dst = checkAbsolute(value.slice(0, colon), flag);
  const opts = value.slice(colon + 1);
  const words = ['rw', 'ro', 'nosuid', 'suid', 'nodev', 'dev', 'exec', 'noexec'];
  if (!opts.includes(',') && !opts.includes('=') && !words.includes(opts)) return { dst, size: parseSize(opts, flag) };
  let size: number | undefined;
  for (const opt of opts.split(',')) {
    if (opt.startsWith('size=')) size = parseSize(opt.slice(5), flag);
    else if (!['rw', 'mode=1777', 'nosuid', 'nodev'].includes(opt)) {
      throw optionError(
        flag,
        'DST[:SIZE] or DST:rw,size=SIZE (other tmpfs options are not supported: a tmpfs here is always rw, mode 1777, nosuid, nodev)',
        value,
      );
    }
  }
  return size === undefined ? { dst } : { dst, size };
}

/** docker's `--mount type=bind|tmpfs,src=SRC,dst=DST[,readonly][,tmpfs-size=SIZE]`. */
function parseMount(p: Parse, value: string, flag: string): void {
  const fields = new Map<string, string | true>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    const canonical = ({ source: 'src', destination: 'dst', target: 'dst', ro: 'readonly' } as Record<string, string>)[key] ?? key;
    if (!['type', 'src', 'dst', 'readonly', 'tmpfs-size'].includes(canonical)) {
      throw optionError(flag, 'type=bind|tmpfs,src=SRC,dst=DST[,readonly][,tmpfs-size=SIZE] (no other keys are supported)', value);
    }
    fields.set(canonical, eq === -1 ? true : part.slice(eq + 1));
  }
  const str = (key: string): string | null => {
    const v = fields.get(key);
    if (v === undefined) return null;
    if (v === true || v === '') throw optionError(flag, `${key}=VALUE`, value);
    return v;
  };
  const type = str('type');
  const dst = str('dst');
  if (dst === null) throw optionError(flag, 'a dst=DST (or target=, destination=)', value);
  const ro = fields.get('readonly');
  const readonly =
    ro === undefined ? false : ro === true || ro === 'true' || ro === '1' ? true : ro === 'false' || ro === '0' ? false : null;
  if (readonly === null) throw optionError(flag, 'readonly, readonly=true or readonly=false', value);
  if (type === 'bind') {
    const src = str('src');
    if (src === null) throw optionError(flag, 'a src=SRC for type=bind', value);
    if (fields.has('tmpfs-size')) throw optionError(flag, 'tmpfs-size only with type=tmpfs', value);
    // docker's --mount binds are writable unless readonly; -v's are read-only unless :rw.
    p.options.binds.push({ src: resolve(src), dst: checkAbsolute(dst, flag), rw: !readonly });
  } else if (type === 'tmpfs') {
    if (fields.has('src')) throw optionError(flag, 'no src for type=tmpfs', value);
    if (readonly) throw optionError(flag, 'a writable tmpfs (a read-only one would stay empty)', value);
    const size = str('tmpfs-size');
    p.options.tmpfs.push(
      size === null ? { dst: checkAbsolute(dst, flag) } : { dst: checkAbsolute(dst, flag), size: parseSize(size, flag) },
    );
  } else {
    throw optionError(flag, 'type=bind or type=tmpfs (volumes need a volume store, which sandbox does not have)', value);
  }
}

/** `UID[:GID]`, numeric: host ids, which need not exist in the host's /etc/passwd. */
function parseUser(value: string, flag: string): { uid: number; gid?: number } {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(value);
  if (m === null) throw optionError(flag, 'a numeric host UID[:GID] (e.g. 1000:1000)', value);
  const user = m[2] === undefined ? { uid: Number(m[1]) } : { uid: Number(m[1]), gid: Number(m[2]) };
  checkUser(user, flag);
  return user;
}

/** `NAME=SOFT[:HARD]`; -1 and `unlimited` are RLIM_INFINITY. */
function parseUlimit(p: Parse, value: string, flag: string): void {
  const m = /^([a-z]+)=(-1|unlimited|\d+)(?::(-1|unlimited|\d+))?$/.exec(value);
  if (m === null) throw optionError(flag, 'NAME=SOFT[:HARD] (e.g. nofile=1024:4096)', value);
  const n = (s: string): number => (s === 'unlimited' || s === '-1' ? -1 : Number(s));
  const soft = n(m[2]!);
  const hard = m[3] === undefined ? soft : n(m[3]);
  Object.defineProperty(p.ulimits, m[1]!, { value: { soft, hard }, enumerable: true, writable: true, configurable: true });
}

/** --memory-swap: memory plus swap, which is what --memory caps already; so only that value maps. */
function checkMemorySwap(swap: { value: number; flag: string }, memory: SandboxOptions['memory']): void {
  if (memory === undefined) {
    throw usageError(`${swap.flag} needs --memory: --memory caps memory and swap together, so ${swap.flag} can only equal it`);
  }
  if (swap.value !== memory) {
    throw usageError(
      `${swap.flag} must equal --memory (${String(memory)} bytes): --memory caps memory and swap together; swap beyond it cannot be allowed`,
    );
  }
}

/** `KEY=VALUE` (VALUE may hold anything, '=' and spaces too) or `KEY` (copied from the caller). */
function parseEnv(env: Record<string, string>, value: string, flag: string, hostEnv: NodeJS.ProcessEnv): void {
  const eq = value.indexOf('=');
  const key = eq === -1 ? value : value.slice(0, eq);
  if (!ENV_NAME_RE.test(key)) {
    throw optionError(flag, 'KEY=VALUE with KEY made of letters, digits and _ (not starting with a digit)', value);
  }
  const copied = Object.hasOwn(hostEnv, key) ? hostEnv[key] : undefined;
  const v = eq !== -1 ? value.slice(eq + 1) : copied;
  // defineProperty: a plain assignment to "__proto__" would set the prototype, not a variable.
  if (typeof v === 'string') Object.defineProperty(env, key, { value: v, enumerable: true, writable: true, configurable: true });
}

/**
 * docker's env file: one KEY=VALUE or KEY per line, the value taken as it is (no quotes, no
 * expansion); blank lines and lines starting with # are skipped; a bare KEY copies the caller's value.
 */
function parseEnvFile(env: Record<string, string>, value: string, flag: string, hostEnv: NodeJS.ProcessEnv): void {
  const file = hostPath(value, flag);
  const text = readSmallFile(file, flag, 'env file');
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    checkNul(line, `${flag} ${file} line ${n + 1}`);
    parseEnv(env, line, `${flag} ${file} line ${n + 1}`, hostEnv);
  });
}

function parseNet(value: string, flag: string): 'none' | 'host' {
  if (value !== 'none' && value !== 'host')
    throw optionError(flag, 'none or host (a bridge or a user-defined network needs a network daemon, which sandbox does not have)', value);
  return value;
}

function parseCpus(value: string, flag: string): number {
  const n = DECIMAL_RE.test(value) ? Number(value) : NaN;
  return checkCpuQuota(Number.isFinite(n) ? n : value, flag);
}

function parsePids(value: string, flag: string): number {
  return checkPids(/^\d+$/.test(value) ? Number(value) : value, flag);
}

/** A small regular file's text; one line naming the flag, the file and the cause when it cannot be read. */
function readSmallFile(file: string, flag: string, what: string): string {
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > SMALL_FILE_MAX) throw new Error(`larger than ${SMALL_FILE_MAX} bytes`);
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new SandboxError(`${flag}: cannot read ${what} ${quote(file)}: ${errorText(e)}`, { stage: 'options', cause: e });
  }
}

function parseSeccomp(value: string, flag: string): SandboxOptions['seccomp'] {
  if (value === 'default' || value === 'none') return value;
  const file = hostPath(value, flag);
  const text = readSmallFile(file, flag, 'policy file');
  try {
    return parseSeccompFile(text);
  } catch (e) {
    throw new SandboxError(`${flag}: ${quote(file)}: ${errorText(e)}`, { stage: 'options', cause: e });
  }
}
