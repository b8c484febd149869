// `sandbox image pull|import|ls|inspect|rm|prune` (CONTRACT.md, "Images"). Results go to stdout,
// progress to stderr on a terminal only; any failure is one line on stderr and exit 125.
import { SandboxError } from '../errors.js';
import type { ImageProgress } from '../image/progress.js';

export const IMAGE_HELP = `Usage: sandbox image COMMAND [ARGS]

  pull REF [--platform OS/ARCH] [-q]     fetch from a registry (Docker Hub by default)
  import PATH [NAME[:TAG]] [--platform OS/ARCH] [-q]
                                         add a docker/podman save archive, an OCI layout
                                         (directory or tar) or a root filesystem tar
  ls [--json]                            the images in the store
  inspect REF [--json]                   an image's config, layers and platform
  rm REF...                              remove names, then what no image uses
  prune                                  remove what no name holds

The store: $SANDBOX_STORE, else $XDG_DATA_HOME/sandbox, else ~/.local/share/sandbox
(root: /var/lib/sandbox). See docs/images.md.
`;

const SETUP_FAILED = 125;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

const defaultIo = (): Io => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  isTTY: process.stderr.isTTY === true,
});

function usage(msg: string): SandboxError {
  return new SandboxError(`image: ${msg}; see 'sandbox image --help'`, { stage: 'options' });
}

interface Parsed {
  positional: string[];
  platform: string | undefined;
  quiet: boolean;
  json: boolean;
  help: boolean;
}

function parse(args: string[], allowed: Set<string>): Parsed {
  const r: Parsed = { positional: [], platform: undefined, quiet: false, json: false, help: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      r.positional.push(...args.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') r.help = true;
    else if ((a === '-q' || a === '--quiet') && allowed.has('quiet')) r.quiet = true;
    else if (a === '--json' && allowed.has('json')) r.json = true;
    else if ((a === '--platform' || a.startsWith('--platform=')) && allowed.has('platform')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (v === undefined || !/^linux\/[a-z0-9]+(?:\/[a-z0-9]+)?$/.test(v))
        throw usage(`--platform expects OS/ARCH such as linux/arm64, got ${JSON.stringify(v ?? '')}`);
      r.platform = v;
    } else if (a.startsWith('-') && a !== '-') throw usage(`unknown option ${JSON.stringify(a)}`);
    else r.positional.push(a);
  }
  return r;
}

function human(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 && u > 0 ? 1 : 0)} ${units[u]}`;
}

/** A one-line progress display redrawn in place on the terminal. */
function progressBar(io: Io, verb: string): { update: (p: ImageProgress) => void; clear: () => void } {
  const t0 = Date.now();
  let drawn = false;
  return {
    update(p) {
      const secs = Math.max(0.001, (Date.now() - t0) / 1000);
      const total = p.bytesTotal !== null && p.bytesTotal > 0 ? p.bytesTotal : null;
      const width = 24;
      const frac = total !== null ? Math.min(1, p.bytesDone / total) : p.layersTotal > 0 ? p.layersDone / p.layersTotal : 0;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      const bytes = total !== null ? `${human(p.bytesDone)}/${human(total)}` : human(p.bytesDone);
      const step = p.step === 'resolve' ? 'resolving' : p.step === 'commit' ? 'committing' : `${p.layersDone}/${p.layersTotal} layers`;
      io.err(`\r\x1b[K${verb} ${p.image} [${bar}] ${step} ${bytes} ${human(p.bytesDone / secs)}/s`);
      drawn = true;
    },
    clear() {
      if (drawn) io.err('\r\x1b[K');
      drawn = false;
    },
  };
}

/** Aborts on SIGINT/SIGTERM while FN runs: the operation removes its staging and the store is unchanged. */
async function abortable<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const stop = (sig: NodeJS.Signals): void => ctl.abort(new SandboxError(`interrupted by ${sig}`, { stage: 'image' }));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await fn(ctl.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * `exec --rootfs FILE`: the archive imported as `sandbox image import FILE` would (a root
 * filesystem tar kept nameless), with the same progress and ^C handling; resolves with the image id.
 */
export async function importForRun(file: string, quiet: boolean, io: Io = defaultIo()): Promise<string> {
  const img = await import('../image/index.js');
  const bar = !quiet && io.isTTY ? progressBar(io, 'importing') : null;
  try {
    const r = await abortable((signal) => img.importImage(file, { nameless: true, signal, onProgress: bar?.update }));
    return r.id;
  } finally {
    bar?.clear();
  }
}

export async function runImage(args: string[], io: Io = defaultIo()): Promise<number> {
  const [sub, ...rest] = args;
  try {
    return await dispatch(sub, rest, io);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const line = msg
      .split(/\r?\n/)
      .filter((s) => s.trim() !== '')
      .join(' ');
    io.err(`sandbox: ${line}\n`);
    return SETUP_FAILED;
  }
}

async function dispatch(sub: string | undefined, rest: string[], io: Io): Promise<number> {
  const img = await import('../image/index.js');
  switch (sub) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.out(IMAGE_HELP);
      return 0;
    case 'pull': {
      const a = parse(rest, new Set(['platform', 'quiet']));
      if (a.help) return help(io);
      if (a.positional.length !== 1) throw usage('pull takes one REF');
      const bar = !a.quiet && io.isTTY ? progressBar(io, 'pulling') : null;
      try {
        const r = await abortable((signal) => img.pullImage(a.positional[0]!, { platform: a.platform, signal, onProgress: bar?.update }));
        bar?.clear();
        io.out(`${r.names[0]} ${r.id}\n`);
      } finally {
        bar?.clear();
      }
      return 0;
    }
    case 'import': {
      const a = parse(rest, new Set(['platform', 'quiet']));
      if (a.help) return help(io);
      if (a.positional.length < 1 || a.positional.length > 2) throw usage('import takes PATH [NAME[:TAG]]');
      const bar = !a.quiet && io.isTTY ? progressBar(io, 'importing') : null;
      try {
        const r = await abortable((signal) =>
          img.importImage(a.positional[0]!, { name: a.positional[1], platform: a.platform, signal, onProgress: bar?.update }),
        );
        bar?.clear();
        for (const n of r.names) io.out(`${n} ${r.id}\n`);
      } finally {
        bar?.clear();
      }
      return 0;
    }
    case 'ls':
    case 'list': {
      const a = parse(rest, new Set(['json']));
      if (a.help) return help(io);
      if (a.positional.length > 0) throw usage('ls takes no arguments');
      const rows = img.listImages();
      if (a.json) {
        io.out(JSON.stringify(rows, null, 2) + '\n');
        return 0;
      }
      const table = [['NAME', 'ID', 'SIZE', 'CREATED', 'PLATFORM']];
      for (const r of rows)
        table.push([
          r.familiarName ?? '<none>',
          r.id.slice(7, 19),
          human(r.size),
          r.created?.slice(0, 19).replace('T', ' ') ?? '-',
          r.platform,
        ]);
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) io.out(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
      return 0;
    }
    case 'inspect': {
      const a = parse(rest, new Set(['json']));
      if (a.help) return help(io);
      if (a.positional.length !== 1) throw usage('inspect takes one REF');
      const d = img.inspectImage(a.positional[0]!);
      if (a.json) {
        io.out(JSON.stringify(d, null, 2) + '\n');
        return 0;
      }
      const c = d.config;
      const lines = [
        `Id:          ${d.id}`,
        `Names:       ${d.names.join(', ') || '<none>'}`,
        `Platform:    ${d.platform}`,
        `Created:     ${d.created ?? '-'}`,
        `Env:         ${c.env.length === 0 ? '-' : c.env.join('\n             ')}`,
        `WorkingDir:  ${c.workingDir ?? '-'}`,
        `User:        ${c.user ?? '-'}`,
        `Entrypoint:  ${c.entrypoint ? JSON.stringify(c.entrypoint) : '-'}`,
        `Cmd:         ${c.cmd ? JSON.stringify(c.cmd) : '-'}`,
        `Layers:`,
        ...d.layers.map((l, i) => `  ${l.diffId}  ${human(l.size)}  ${d.layerDirs[i]}`),
      ];
      io.out(lines.join('\n') + '\n');
      return 0;
    }
    case 'rm':
    case 'remove': {
      const a = parse(rest, new Set());
      if (a.help) return help(io);
      if (a.positional.length === 0) throw usage('rm takes one or more REF');
      const r = await abortable((signal) => img.removeImage(a.positional, { signal }));
      for (const n of r.untagged) io.out(`untagged ${n}\n`);
      for (const id of r.deleted) io.out(`deleted ${id}\n`);
      return 0;
    }
    case 'prune': {
      const a = parse(rest, new Set());
      if (a.help) return help(io);
      if (a.positional.length > 0) throw usage('prune takes no arguments');
      const r = await abortable((signal) => img.pruneImages({ signal }));
      for (const id of r.deleted) io.out(`deleted ${id}\n`);
      io.out(`removed ${r.deleted.length} images, ${r.layersRemoved} layers, ${r.stagingRemoved} leftovers\n`);
      return 0;
    }
    default:
      throw usage(`unknown command ${JSON.stringify(sub)}`);
  }
}

function help(io: Io): number {
  io.out(IMAGE_HELP);
  return 0;
}
