// The loop of a subcommand's `--name VALUE` / `--name=VALUE` options: each option is handed to
// `take` with a reader for its value; a missing value names the option and the subcommand's help.
import { SandboxError } from '../errors.js';

/** A bad subcommand option: one line, stage 'options' (exit 125 in the CLI). */
export function usageError(message: string): SandboxError {
  return new SandboxError(message, { stage: 'options' });
}

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
        if (v === undefined) throw usageError(`${name} needs a value; see 'sandbox ${command} --help'`);
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
    if (!p.startsWith('/')) throw usageError(`Expected an absolute directory for --src-prefix but received ${JSON.stringify(p)}`);
  }
  return dirs;
}

/** A whole number from min to max, written in decimal digits. */
export function integer(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max)
    throw usageError(`Expected an integer from ${min} to ${max} for ${name} but received ${JSON.stringify(v)}`);
  return n;
}
