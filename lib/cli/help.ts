// Texts of `sandbox --help`, `sandbox exec --help` and `sandbox --version`.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLAGS, type FlagGroup } from './args.js';

export const MAIN_HELP = `Usage: sandbox COMMAND [OPTIONS]

Run untrusted commands in Linux namespaces, with cgroup limits and exact accounting.

Commands:
  exec [OPTIONS] [--] COMMAND [ARG...]   Run COMMAND in a new sandbox
  run [OPTIONS] IMAGE [COMMAND [ARG...]] Run in an image: exec --image IMAGE, docker's spelling
  image pull|import|ls|inspect|rm|prune  Manage the image store (sandbox image --help)
  doctor                                 Check what this machine supports (user namespaces, cgroups)
  serve                                  Run a judge server speaking go-judge's REST API (docs/serve.md)
  worker                                 Run queued /run jobs from Redis, one of a fleet (docs/queue.md)

Options:
  -h, --help      Print this help
      --version   Print the version

Run 'sandbox exec --help' for the options of exec.
`;

const GROUPS: FlagGroup[] = ['Filesystem', 'Process', 'Limits', 'Input and output', 'Other'];

/** `sandbox exec --help`: docker's layout (`-v, --bind list   text`), in groups, from args.ts's table. */
export function execHelp(): string {
  const rows = (group: FlagGroup): string[] =>
    FLAGS.filter((f) => f.group === group && f.alias !== true).map((f) => {
      const aliases = FLAGS.filter((a) => a.alias === true && a.help === `Same as --${f.long}`).map((a) => `--${a.long}`);
      const name = `${f.short === undefined ? '    ' : `-${f.short}, `}--${f.long}${f.type === undefined ? '' : ` ${f.type}`}`;
      const text = aliases.length === 0 ? f.help : `${f.help} (also ${aliases.join(', ')})`;
      return `  ${name.padEnd(30)} ${text}`;
    });
  return `Usage:  sandbox exec [OPTIONS] [--] COMMAND [ARG...]
        sandbox exec --image REF [OPTIONS] [-- COMMAND [ARG...]]
        sandbox run [OPTIONS] IMAGE [COMMAND [ARG...]]

Run COMMAND in a new sandbox: its own pid, mount, uts, ipc, user and network namespaces, the host's
/usr read-only (or --rootfs), a fresh /tmp, no host environment.

${GROUPS.map((g) => `${g}:\n${rows(g).join('\n')}`).join('\n\n')}

bytes: a number of bytes, or with a suffix k, m, g (KiB, MiB, GiB), e.g. 256m. seconds: fractions
allowed. Both --opt VALUE and --opt=VALUE work. Docker flags that do not apply say so and name the
nearest one here (docs/cli.md).

Exit status: the command's own; 128+N when it was killed by signal N (137 for a limit's SIGKILL);
125 when the sandbox could not be set up; 126 when COMMAND cannot be executed; 127 when it is not found.

Examples:
  sandbox exec -- python3 -c 'print(1)'
  sandbox exec -v "$PWD:/src:ro" -w /src --memory 256m --time-limit 2 --meta run.meta -- ./solution
  sandbox run -m 256m python:3.12-slim python3 -c 'print(42)'
`;
}

/** "sandbox 0.1.0", from the package.json above this file (lib/cli or dist/lib/cli). */
export function versionText(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'linux-sandbox' && typeof pkg.version === 'string') return `sandbox ${pkg.version}\n`;
    } catch {
      // no package.json here: look further up
    }
  }
  return 'sandbox (unknown version)\n';
}
