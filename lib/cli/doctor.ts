// `sandbox doctor [--json]`: exit 0 when everything the default options need works, 1 otherwise.
import { diagnose, formatReport } from '../doctor/index.js';
import type { System } from '../doctor/index.js';

export const DOCTOR_USAGE = `Usage: sandbox doctor [--json]

Checks what this machine allows (kernel features, user namespaces, mounts, cgroups,
seccomp, containers, id maps) and prints a fix for each failing line.

  --json   print the report as JSON
Exit status: 0 when everything the default options need works, 1 otherwise.
`;

export interface DoctorIo {
  system?: System;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export async function runDoctor(args: string[], io: DoctorIo = {}): Promise<number> {
  const out = io.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = io.stderr ?? ((t: string) => void process.stderr.write(t));
  let json = false;
  for (const a of args) {
    if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      out(DOCTOR_USAGE);
      return 0;
    } else {
      // Exit 125 like every other bad option of the CLI (docs/cli.md).
      err(`sandbox doctor: unknown option ${JSON.stringify(a)} (expected --json)\n`);
      return 125;
    }
  }
  const report = await diagnose(io.system);
  out(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.exitCode;
}
