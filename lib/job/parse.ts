// An untrusted /run body → a checked JobRequest. Unknown fields are ignored (as go-judge's JSON
// decoding does); a field of the wrong type, a bad path, a stream file or an fd above 2 is a
// SandboxError (stage 'request') whose message names the field: the server's 400.
import { SandboxError, describe } from '../errors.js';
import { MAX_CMDS, MAX_LIST, MAX_NAME } from './limits.js';
import type { Cmd, CmdFile, InputFile, JobRequest, PipeIndex, PipeMap, Symlink } from './types.js';

function bad(field: string, expected: string, given: unknown): SandboxError {
  return new SandboxError(`Expected ${expected} for ${field} but received ${describe(given)}`, { stage: 'request' });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.includes('\0')) throw bad(field, 'a string without NUL bytes', v);
  return v;
}

function count(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, 'a non-negative integer', v);
  return v;
}

function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(field, 'a boolean', v);
  return v;
}

function strings(v: unknown, field: string, nonEmpty = false): string[] {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0) || v.length > MAX_LIST) {
    throw bad(field, `an array of ${nonEmpty ? '1' : '0'} to ${MAX_LIST} strings`, v);
  }
  return v.map((s, i) => str(s, `${field}[${i}]`));
}

/**
 * A path in the working directory: relative (or under /w), without '..', at most MAX_NAME bytes.
 * Returned relative, normalised ('./a//b' → 'a/b').
 */
export function workPath(v: unknown, field: string): string {
  const s = str(v, field);
  const rel = s.startsWith('/w/') ? s.slice(3) : s;
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (rel.startsWith('/') || parts.length === 0 || parts.includes('..') || Buffer.byteLength(rel) > MAX_NAME) {
    throw bad(field, "a path inside the working directory (relative, no '..')", s);
  }
  return parts.join('/');
}

function inputFile(f: Record<string, unknown>, field: string): InputFile | null {
  if (f.src !== undefined && f.src !== null) return { src: str(f.src, `${field}.src`) };
  // A file's bytes may hold NUL (a binary given inline), as go-judge takes them; names and argv may not.
  if (f.content !== undefined && f.content !== null) {
    if (typeof f.content !== 'string') throw bad(`${field}.content`, 'a string', f.content);
    return { content: f.content };
  }
  if (f.fileId !== undefined && f.fileId !== null) return { fileId: str(f.fileId, `${field}.fileId`) };
  return null;
}

function cmdFile(v: unknown, field: string): CmdFile {
  if (v === null) return null;
  if (!isObject(v)) throw bad(field, 'a file object or null', v);
  const input = inputFile(v, field);
  if (input !== null) return input;
  if (v.streamIn !== undefined || v.streamOut !== undefined) {
    throw new SandboxError(`${field}: streamIn/streamOut belong to go-judge's /stream interface, which this server does not offer`, {
      stage: 'request',
    });
  }
  if (v.name !== undefined && v.max !== undefined) {
    const pipe = bool(v.pipe, `${field}.pipe`);
    return { name: workPath(v.name, `${field}.name`), max: count(v.max, `${field}.max`)!, ...(pipe === undefined ? {} : { pipe }) };
  }
  throw new SandboxError(`${field}: file is not valid for cmd (expected src, content, fileId, or name with max)`, { stage: 'request' });
}

function copyIn(v: unknown, field: string): Record<string, InputFile | Symlink> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(field, 'an object of files', v);
  const entries = Object.entries(v);
  if (entries.length > MAX_LIST) throw bad(field, `at most ${MAX_LIST} files`, `${entries.length} files`);
  const out: Record<string, InputFile | Symlink> = {};
  for (const [name, f] of entries) {
    const at = `${field}[${JSON.stringify(name)}]`;
    const dst = workPath(name, at);
    if (!isObject(f)) throw bad(at, 'a file object', f);
    if (f.symlink !== undefined && f.symlink !== null) {
      out[dst] = { symlink: str(f.symlink, `${at}.symlink`) };
      continue;
    }
    const input = inputFile(f, at);
    if (input === null)
      throw new SandboxError(`${at}: file is not valid for copyIn (expected src, content, fileId or symlink)`, { stage: 'request' });
    out[dst] = input;
  }
  return out;
}

function copyOut(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return strings(v, field).map((n, i) => {
    const optional = n.endsWith('?');
    return workPath(optional ? n.slice(0, -1) : n, `${field}[${i}]`) + (optional ? '?' : '');
  });
}

function parseCmd(v: unknown, i: number): Cmd {
  const at = `cmd[${i}]`;
  if (!isObject(v)) throw bad(at, 'an object', v);
  const cmd: Cmd = { args: strings(v.args, `${at}.args`, true) };
  if (v.env !== undefined && v.env !== null) cmd.env = strings(v.env, `${at}.env`);
  if (v.files !== undefined && v.files !== null) {
    if (!Array.isArray(v.files)) throw bad(`${at}.files`, 'an array', v.files);
    if (v.files.length > 3) {
      throw new SandboxError(`${at}.files: only fds 0, 1 and 2 reach a sandboxed command (${v.files.length} given)`, { stage: 'request' });
    }
    cmd.files = v.files.map((f, j) => cmdFile(f, `${at}.files[${j}]`));
  }
  for (const k of [
    'cpuLimit',
    'clockLimit',
    'realCpuLimit',
    'memoryLimit',
    'stackLimit',
    'procLimit',
    'cpuRateLimit',
    'copyOutMax',
  ] as const) {
    const n = count(v[k], `${at}.${k}`);
    if (n !== undefined) cmd[k] = n;
  }
  for (const k of ['tty', 'strictMemoryLimit', 'dataSegmentLimit', 'addressSpaceLimit', 'copyOutTruncate'] as const) {
    const b = bool(v[k], `${at}.${k}`);
    if (b !== undefined) cmd[k] = b;
  }
  if (v.cpuSetLimit !== undefined && v.cpuSetLimit !== null && v.cpuSetLimit !== '')
    cmd.cpuSetLimit = str(v.cpuSetLimit, `${at}.cpuSetLimit`);
  if (v.copyOutDir !== undefined && v.copyOutDir !== null && v.copyOutDir !== '') {
    throw new SandboxError(`${at}.copyOutDir: dumping /w to a host directory is not offered by this server`, { stage: 'request' });
  }
  const ci = copyIn(v.copyIn, `${at}.copyIn`);
  if (ci !== undefined) cmd.copyIn = ci;
  const co = copyOut(v.copyOut, `${at}.copyOut`);
  if (co !== undefined) cmd.copyOut = co;
  const cc = copyOut(v.copyOutCached, `${at}.copyOutCached`);
  if (cc !== undefined) cmd.copyOutCached = cc;
  if (v.image !== undefined && v.image !== null) cmd.image = str(v.image, `${at}.image`);
  return cmd;
}

function pipeIndex(v: unknown, field: string, cmds: Cmd[], want: 'out' | 'in'): PipeIndex {
  if (!isObject(v)) throw bad(field, 'an object { index, fd }', v);
  const index = count(v.index, `${field}.index`);
  const fd = count(v.fd, `${field}.fd`);
  if (index === undefined || index >= cmds.length) throw bad(`${field}.index`, `a command index below ${cmds.length}`, v.index);
  // `in` is the pipe's input end: the writing command's output fd; `out` feeds the reader's stdin.
  if (want === 'in' ? fd !== 1 && fd !== 2 : fd !== 0) {
    throw bad(`${field}.fd`, want === 'in' ? 'fd 1 or 2 (the writer)' : 'fd 0 (the reader)', v.fd);
  }
  return { index, fd: fd! };
}

export function parseRequest(body: unknown): JobRequest {
  if (!isObject(body)) throw bad('request', 'a JSON object', body);
  if (!Array.isArray(body.cmd) || body.cmd.length === 0) {
    throw new SandboxError('no cmd provided', { stage: 'request' });
  }
  if (body.cmd.length > MAX_CMDS) throw bad('cmd', `at most ${MAX_CMDS} commands`, `${body.cmd.length} commands`);
  const cmd = body.cmd.map(parseCmd);
  const req: JobRequest = { cmd };
  if (body.requestId !== undefined && body.requestId !== null) req.requestId = str(body.requestId, 'requestId');
  if (body.pipeMapping !== undefined && body.pipeMapping !== null) {
    if (!Array.isArray(body.pipeMapping) || body.pipeMapping.length > MAX_CMDS * 3) throw bad('pipeMapping', 'an array', body.pipeMapping);
    const seen = new Set<string>();
    req.pipeMapping = body.pipeMapping.map((p: unknown, i): PipeMap => {
      const at = `pipeMapping[${i}]`;
      if (!isObject(p)) throw bad(at, 'an object { in, out, proxy?, name?, max? }', p);
      const pm: PipeMap = { in: pipeIndex(p.in, `${at}.in`, cmd, 'in'), out: pipeIndex(p.out, `${at}.out`, cmd, 'out') };
      for (const end of [pm.in, pm.out]) {
        const key = `${end.index}:${end.fd}`;
        if (seen.has(key))
          throw new SandboxError(`${at}: fd ${end.fd} of cmd[${end.index}] is already an end of another pipe`, { stage: 'request' });
        seen.add(key);
        const f = cmd[end.index]!.files?.[end.fd];
        if (f !== undefined && f !== null)
          throw new SandboxError(`${at}: cmd[${end.index}].files[${end.fd}] must be null for a pipe end`, { stage: 'request' });
      }
      const proxy = bool(p.proxy, `${at}.proxy`);
      if (proxy !== undefined) pm.proxy = proxy;
      if (p.name !== undefined && p.name !== null && p.name !== '') pm.name = workPath(p.name, `${at}.name`);
      const max = count(p.max, `${at}.max`);
      if (max !== undefined) pm.max = max;
      return pm;
    });
  }
  return req;
}
