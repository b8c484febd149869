// Runs a helper script as a process of its own and returns its last stdout line as JSON. On pure
// cgroup v2 the process gets a scope of its own first: the test runner's cgroup holds other
// processes, and v2 enables controllers only in a cgroup without any (cgroup-v2.rst).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const root = path.resolve(import.meta.dirname, '../..');

function onPath(command: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir !== '' && fs.existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return null;
}

/** On pure cgroup v2, the command prefix that gives a process a delegated scope of its own. */
export function scopePrefix(): string[] {
  const unified = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.includes(' /sys/fs/cgroup ') && l.includes(' - cgroup2 '));
  if (!unified) return [];
  const v = onPath('vm-run-scope');
  if (v !== null) return [v];
  const s = onPath('systemd-run');
  return s === null ? [] : [s, ...(process.getuid?.() === 0 ? [] : ['--user']), '--scope', '-p', 'Delegate=yes', '--quiet', '--collect'];
}

export interface Captured {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** argv run to its end, stdout and stderr captured. */
export function runCaptured(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? root,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** node + test/helpers/`script` + args, in a scope: its JSON line. */
export async function runScoped(script: string, args: string[] = []): Promise<unknown> {
  const out = await runCaptured([...scopePrefix(), process.execPath, path.join(root, 'test/helpers', script), ...args]);
  try {
    return JSON.parse(out.stdout.trim().split('\n').pop() ?? '');
  } catch {
    throw new Error(`${script} ${args.join(' ')} failed (status ${out.status}): ${out.stdout.slice(-500)} ${out.stderr.slice(-2000)}`);
  }
}
