// The CLI's notices and failures: one line on stderr, `sandbox: REASON`, beside the command's own
// output (a limit that fell back, a limit that killed the command, why a write may have failed, why
// the run could not start). --quiet silences notices; failures (exit 125) are always printed.

/** `sandbox: REASON` and a newline: the reason's own line breaks become spaces, so it stays one line. */
export function noticeLine(reason: string): string {
  const line = reason
    .split(/\r?\n|\r|\u2028|\u2029/)
    .filter((s) => s.trim() !== '')
    .join(' ');
  return `sandbox: ${line || 'unknown error'}\n`;
}
