// `sandbox exec [OPTIONS] [--] COMMAND [ARG...]`: argv → SandboxOptions + RunOptions (CONTRACT.md).
// Pure apart from reading a --seccomp FILE and the caller's value of a bare `-e KEY`.
import { readFileSync, statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import { SandboxError, optionError } from '../errors.js';
import type { SandboxOptions, RunOptions } from '../options.js';
import { parseSeccompFile } from '../seccomp/index.js';
import { parseSeconds, parseSize } from '../units.js';

export interface ExecOutput {
  /** --result FILE: the RunResult as JSON. */
  result: string | null;
  /** --json: the RunResult as one line of JSON on stderr. */
  json: boolean;
  /** --meta FILE: isolate's meta-file format. */
  meta: string | null;
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

/** Most processes a pid namespace can hold anyway (PID_MAX_LIMIT on 64-bit, see proc(5)). */
const PIDS_MAX = 4194304;
/** HOST_NAME_MAX (gethostname(2)). */
const HOSTNAME_MAX = 64;
/** A seccomp policy file is a short list of syscall names; refuse anything that cannot be one. */
const SECCOMP_FILE_MAX = 1 << 20;

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOSTNAME_RE = /^[A-Za-z0-9_.-]+$/;
const DECIMAL_RE = /^(\d+(?:\.\d*)?|\.\d+)$/;

/** The invocation being built: the repeatable options are always present. */
interface Parse extends ExecInvocation {
  options: SandboxOptions & Required<Pick<SandboxOptions, 'binds' | 'tmpfs' | 'env'>>;
}

interface Flag {
  long: string;
  short?: string;
  /** Takes a value (`--opt value`, `--opt=value`, `-xvalue`). */
  value: boolean;
  apply(p: Parse, value: string, flag: string, hostEnv: NodeJS.ProcessEnv): void;
}

const FLAGS: Flag[] = [
  { long: 'rootfs', value: true, apply: (p, v, f) => (p.options.rootfs = hostPath(v, f)) },
  { long: 'image', value: true, apply: (p, v, f) => (p.options.image = nonEmpty(v, f, 'an image name')) },
  { long: 'writable', value: false, apply: (p) => (p.options.writable = true) },
  { long: 'writable-size', value: true, apply: (p, v, f) => (p.options.writableSize = parseSize(v, f)) },
  // docker's --entrypoint: one executable; "" clears the image's Entrypoint.
  { long: 'entrypoint', value: true, apply: (p, v) => (p.options.entrypoint = v === '' ? [] : [v]) },
  { long: 'bind', short: 'v', value: true, apply: (p, v, f) => p.options.binds.push(parseBind(v, f)) },
  { long: 'tmpfs', value: true, apply: (p, v, f) => p.options.tmpfs.push(parseTmpfs(v, f)) },
  { long: 'env', short: 'e', value: true, apply: (p, v, f, env) => parseEnv(p.options.env, v, f, env) },
  { long: 'workdir', short: 'w', value: true, apply: (p, v, f) => (p.options.cwd = sandboxPath(v, f)) },
  { long: 'hostname', value: true, apply: (p, v, f) => (p.options.hostname = parseHostname(v, f)) },
  { long: 'net', value: true, apply: (p, v, f) => (p.options.network = parseNet(v, f)) },
  { long: 'network', value: true, apply: (p, v, f) => (p.options.network = parseNet(v, f)) },
  { long: 'cpus', value: true, apply: (p, v, f) => (p.options.cpuQuota = parseCpus(v, f)) },
  { long: 'memory', short: 'm', value: true, apply: (p, v, f) => (p.options.memory = parseSize(v, f)) },
  { long: 'pids', value: true, apply: (p, v, f) => (p.options.pids = parsePids(v, f)) },
  { long: 'time-limit', value: true, apply: (p, v, f) => (p.options.timeLimit = parseSeconds(v, f)) },
  { long: 'wall-time-limit', value: true, apply: (p, v, f) => (p.options.wallTimeLimit = parseSeconds(v, f)) },
  { long: 'output-limit', value: true, apply: (p, v, f) => (p.options.outputLimit = parseSize(v, f)) },
  { long: 'stdin', value: true, apply: (p, v, f) => (p.run.stdin = { file: hostPath(v, f) }) },
  { long: 'stdout', value: true, apply: (p, v, f) => (p.run.stdout = { file: hostPath(v, f) }) },
  { long: 'stderr', value: true, apply: (p, v, f) => (p.run.stderr = { file: hostPath(v, f) }) },
  { long: 'result', value: true, apply: (p, v, f) => (p.output.result = hostPath(v, f)) },
  { long: 'json', value: false, apply: (p) => (p.output.json = true) },
  { long: 'meta', value: true, apply: (p, v, f) => (p.output.meta = hostPath(v, f)) },
  { long: 'cgroup-parent', value: true, apply: (p, v, f) => (p.options.cgroupParent = nonEmpty(v, f, 'a cgroup directory')) },
  { long: 'require-cgroup', value: false, apply: (p) => (p.options.requireCgroup = true) },
  { long: 'seccomp', value: true, apply: (p, v, f) => (p.options.seccomp = parseSeccomp(v, f)) },
  { long: 'interactive', short: 'i', value: false, apply: () => {} },
  { long: 'tty', short: 't', value: false, apply: (p) => (p.options.tty = true) },
  { long: 'help', value: false, apply: (p) => (p.help = true) },
];

const BY_LONG = new Map(FLAGS.map((f) => [f.long, f]));
const BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));

/**
 * Parses everything after `sandbox run`: `[OPTIONS] IMAGE [COMMAND [ARG...]]`, docker's spelling of
 * `exec --image IMAGE [OPTIONS] [-- COMMAND [ARG...]]`.
 */
export function parseRunArgs(argv: string[], hostEnv: NodeJS.ProcessEnv = process.env): ExecInvocation {
  return parseArgs(argv, hostEnv, true);
}

/**
 * Parses everything after `sandbox exec`. The command starts after `--`, or at the first word that
 * is not an option or an option's value (as in `docker run IMAGE CMD`); everything from there on
 * belongs to the command. `-e KEY` without `=` copies KEY from `hostEnv` when it is set there and
 * sets nothing otherwise (docker's rule). Throws a SandboxError (stage 'options') whose message is
 * one line naming the flag and the problem.
 */
export function parseExecArgs(argv: string[], hostEnv: NodeJS.ProcessEnv = process.env): ExecInvocation {
  return parseArgs(argv, hostEnv, false);
}

function parseArgs(argv: string[], hostEnv: NodeJS.ProcessEnv, imageFirst: boolean): ExecInvocation {
  const p: Parse = {
    options: { binds: [], tmpfs: [], env: {} },
    run: { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' },
    command: [],
    output: { result: null, json: false, meta: null },
    help: false,
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

  if (imageFirst) {
    if (p.options.image !== undefined) throw usageError('sandbox run takes the image as its first word, not --image');
    if (i >= argv.length) throw usageError('missing image: usage is sandbox run [OPTIONS] IMAGE [COMMAND [ARG...]]');
    p.options.image = nonEmpty(checkNul(argv[i++]!, 'the image'), 'the image', 'an image name');
  }
  p.command = argv.slice(i);
  p.command.forEach((word, n) => checkNul(word, n === 0 ? 'the command' : `argument ${n} of the command`));
  const image = p.options.image !== undefined;
  if (image && p.options.rootfs !== undefined) throw usageError('--image and --rootfs exclude each other');
  if (p.options.writable === true && !image && p.options.rootfs === undefined) throw usageError('--writable needs --image or --rootfs');
  if (p.options.writableSize !== undefined && p.options.writable !== true) throw usageError('--writable-size needs --writable');
  if (p.options.entrypoint !== undefined && !image) throw usageError('--entrypoint needs --image');
  // In an image, no command means the image's own (Entrypoint + Cmd).
  if (p.command.length === 0 && !image) {
    throw usageError('missing command: usage is sandbox exec [OPTIONS] [--] COMMAND [ARG...]');
  }
  return p;
}

// ---- errors -----------------------------------------------------------------------------------

function usageError(message: string): SandboxError {
  return new SandboxError(message, { stage: 'options' });
}

function unknownFlag(flag: string, letter?: string, cluster: string | null = null): SandboxError {
  let hint = "; see 'sandbox exec --help'";
  if (letter === 'h') hint = '; use --help for help, --hostname NAME to set the hostname';
  else if (letter === undefined) {
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
  const json = JSON.stringify(cut).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
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

/** A path inside the sandbox: absolute, normalized. */
function sandboxPath(value: string, flag: string): string {
  if (!value.startsWith('/')) throw optionError(flag, 'an absolute path inside the sandbox', value);
  return posix.normalize(value).replace(/(.)\/$/, '$1');
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
  return { src: resolve(parts[0]!), dst: sandboxPath(parts[1]!, flag), rw };
}

/** `DST[:SIZE]` (docker's `DST:size=SIZE` too). */
function parseTmpfs(value: string, flag: string): { dst: string; size?: number } {
  const colon = value.indexOf(':');
  if (colon === -1) return { dst: sandboxPath(value, flag) };
  const dst = sandboxPath(value.slice(0, colon), flag);
  const size = value.slice(colon + 1).replace(/^size=/, '');
  return { dst, size: parseSize(size, flag) };
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

function parseHostname(value: string, flag: string): string {
  if (!HOSTNAME_RE.test(value) || value.length > HOSTNAME_MAX) {
    throw optionError(flag, `a hostname of 1 to ${HOSTNAME_MAX} letters, digits, '.', '-' or '_'`, value);
  }
  return value;
}

function parseNet(value: string, flag: string): 'none' | 'host' {
  if (value !== 'none' && value !== 'host') throw optionError(flag, 'none or host', value);
  return value;
}

function parseCpus(value: string, flag: string): number {
  const n = DECIMAL_RE.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw optionError(flag, 'a number of CPUs greater than 0 (e.g. 0.5)', value);
  return n;
}

function parsePids(value: string, flag: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= PIDS_MAX)) throw optionError(flag, `a whole number from 1 to ${PIDS_MAX}`, value);
  return n;
}

function parseSeccomp(value: string, flag: string): SandboxOptions['seccomp'] {
  if (value === 'default' || value === 'none') return value;
  const file = hostPath(value, flag);
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    if (st.size > SECCOMP_FILE_MAX) throw new Error(`larger than ${SECCOMP_FILE_MAX} bytes`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SandboxError(`${flag}: cannot read policy file ${quote(file)}: ${reason(e)}`, {
      stage: 'options',
      cause: e,
    });
  }
  try {
    return parseSeccompFile(text);
  } catch (e) {
    throw new SandboxError(`${flag}: ${quote(file)}: ${reason(e)}`, { stage: 'options', cause: e });
  }
}

/** One line describing why `e` happened: "No such file or directory" rather than Node's long text. */
function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const known: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    ELOOP: 'Too many levels of symbolic links',
    ENAMETOOLONG: 'File name too long',
  };
  if (typeof err?.code === 'string' && known[err.code]) return known[err.code]!;
  const text = e instanceof Error ? e.message : String(e);
  return text.split(/\r?\n|\r|\u2028|\u2029/)[0]!.trim() || 'unknown error';
}
