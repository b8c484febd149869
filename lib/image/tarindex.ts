// The members of an uncompressed tar file by name, with their offsets, read header by header
// without reading the contents: a docker or OCI archive is then read like a directory.
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { Header } from 'tar';
import { LayerError } from './extract.js';

export interface TarMember {
  offset: number;
  size: number;
  type: string;
  linkpath: string | null;
}

function readBlock(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/** Pax records (`LEN key=value\n`) → the path and linkpath they set. */
function paxFields(buf: Buffer): { path?: string; linkpath?: string; size?: number } {
  const out: { path?: string; linkpath?: string; size?: number } = {};
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(buf.toString('utf8', i, sp), 10);
    if (!(len > 0)) break;
    const rec = buf.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    const k = rec.slice(0, eq);
    const v = rec.slice(eq + 1);
    if (k === 'path') out.path = v;
    else if (k === 'linkpath') out.linkpath = v;
    else if (k === 'size') out.size = Number(v);
    i += len;
  }
  return out;
}

export class TarIndex {
  readonly members = new Map<string, TarMember>();
  /** True when indexing stopped at LIMIT members (a root filesystem, not an image archive). */
  readonly truncatedIndex: boolean = false;

  constructor(
    readonly file: string,
    fileSize: number,
    limit = Infinity,
  ) {
    const fd = openSync(file, 'r');
    try {
      let pos = 0;
      let nextPath: string | undefined;
      let nextLink: string | undefined;
      let nextSize: number | undefined;
      while (pos + 512 <= fileSize) {
        const block = readBlock(fd, pos, 512);
        if (block.every((b) => b === 0)) return;
        const h = new Header(block);
        if (!h.cksumValid) throw new LayerError(`not a tar archive (bad header checksum at byte ${pos})`);
        const size = nextSize ?? h.size ?? 0;
        const data = pos + 512;
        const next = data + Math.ceil(size / 512) * 512;
        if (data + size > fileSize) throw new LayerError(`truncated: member ${JSON.stringify(h.path)} ends past the end of the file`);
        if (h.type === 'ExtendedHeader' || h.type === 'OldExtendedHeader') {
          const f = paxFields(readBlock(fd, data, size));
          nextPath = f.path ?? nextPath;
          nextLink = f.linkpath ?? nextLink;
          nextSize = f.size;
        } else if (h.type === 'NextFileHasLongPath' || h.type === 'OldGnuLongPath') {
          nextPath = readBlock(fd, data, size).toString('utf8').replace(/\0.*$/s, '');
        } else if (h.type === 'NextFileHasLongLinkpath') {
          nextLink = readBlock(fd, data, size).toString('utf8').replace(/\0.*$/s, '');
        } else if (h.type !== 'GlobalExtendedHeader') {
          const name = normalize(nextPath ?? h.path ?? '');
          this.members.set(name, { offset: data, size, type: h.type ?? 'File', linkpath: nextLink ?? h.linkpath ?? null });
          nextPath = nextLink = nextSize = undefined;
          if (this.members.size >= limit) {
            this.truncatedIndex = true;
            return;
          }
        }
        pos = next;
      }
      if (pos < fileSize || this.members.size === 0) throw new LayerError('truncated tar archive (no end-of-archive blocks)');
    } finally {
      closeSync(fd);
    }
  }

  has(name: string): boolean {
    return this.members.has(normalize(name));
  }

  /** The member NAME, following hard and symbolic links inside the archive (docker save links layers). */
  member(name: string, depth = 0): TarMember | null {
    const m = this.members.get(normalize(name));
    if (!m || depth > 8) return null;
    if ((m.type === 'Link' || m.type === 'SymbolicLink') && m.linkpath !== null) {
      const target = m.type === 'Link' ? m.linkpath : joinRel(name, m.linkpath);
      return this.member(target, depth + 1);
    }
    return m;
  }

  readSmall(name: string, limit = 4 << 20): Buffer {
    const m = this.member(name);
    if (!m) throw new LayerError(`the archive has no ${JSON.stringify(name)}`);
    if (m.size > limit) throw new LayerError(`${JSON.stringify(name)} is larger than ${limit} bytes`);
    const fd = openSync(this.file, 'r');
    try {
      return readBlock(fd, m.offset, m.size);
    } finally {
      closeSync(fd);
    }
  }

  stream(name: string): { bytes: AsyncIterable<Buffer>; size: number } {
    const m = this.member(name);
    if (!m) throw new LayerError(`the archive has no ${JSON.stringify(name)}`);
    if (m.size === 0) return { bytes: (async function* () {})(), size: 0 };
    return { bytes: createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 }), size: m.size };
  }
}

function normalize(name: string): string {
  return name
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

function joinRel(from: string, link: string): string {
  if (link.startsWith('/')) return link;
  const dir = normalize(from).split('/').slice(0, -1);
  for (const p of link.split('/')) {
    if (p === '..') dir.pop();
    else if (p !== '.' && p !== '') dir.push(p);
  }
  return dir.join('/');
}
