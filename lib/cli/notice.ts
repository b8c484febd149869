// The CLI's notices: one line on stderr that says plainly what happened beside the command's own
// output (a limit that fell back, a limit that killed the command, why a write may have failed).
// --quiet silences them; errors (exit 125) are not notices and are always printed.
import { writeSync } from 'node:fs';

let quiet = false;

export function setQuiet(value: boolean): void {
  quiet = value;
}

/** Prints `sandbox: REASON` as one line on stderr, unless --quiet. */
export function notice(reason: string): void {
  if (quiet) return;
  const line = reason
    .split(/\r?\n|\r|\u2028|\u2029/)
    .filter((s) => s.trim() !== '')
    .join(' ');
  try {
    writeSync(2, `sandbox: ${line}\n`);
  } catch {
    // stderr closed: nowhere to say it
  }
}
