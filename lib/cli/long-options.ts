// The loop of a subcommand's `--name VALUE` / `--name=VALUE` options: each option is handed to
// `take` with a reader for its value; a missing value names the option and the subcommand's help.
import { SandboxError } from '../errors.js';

export function eachOption(args: string[], command: string, take: (name: string, value: () => string, arg: string) => void): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    take(
      name,
      () => {
        if (eq > 0) return arg.slice(eq + 1);
        const v = args[++i];
        if (v === undefined) throw new SandboxError(`${name} needs a value; see 'sandbox ${command} --help'`, { stage: 'options' });
        return v;
      },
      arg,
    );
  }
}

/** A --src-prefix value: absolute directories, comma-separated. */
export function srcPrefixes(value: string): string[] {
  const dirs = value.split(',');
  for (const p of dirs) {
    if (!p.startsWith('/'))
      throw new SandboxError(`Expected an absolute directory for --src-prefix but received ${JSON.stringify(p)}`, { stage: 'options' });
  }
  return dirs;
}
