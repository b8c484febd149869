// The human form of the report: one aligned line per check, then the fixes of the failing ones.
import type { Check, DoctorReport } from './types.js';

const NEEDED_MARK = '*';

/** Fixes are printed for what fails or warns; info lines keep theirs in the JSON form only. */
export function needsFix(c: Check): boolean {
  return c.fix !== null && (c.status === 'fail' || c.status === 'warn');
}

export function formatReport(report: DoctorReport): string {
  const title = (c: Check): string => (c.neededByDefaults ? `${c.title} ${NEEDED_MARK}` : c.title);
  const width = Math.max(...report.checks.map((c) => title(c).length));
  const who = report.uid === 0 ? 'root' : `uid ${report.uid}${report.user === null ? '' : ` (${report.user})`}`;
  const lines = [`sandbox doctor: Linux ${report.kernel.release} ${report.kernel.machine}, ${who}`, ''];
  for (const c of report.checks) lines.push(`  ${c.status.padEnd(4)}  ${title(c).padEnd(width)}  ${c.detail}`);
  lines.push('', `${NEEDED_MARK} needed by the default options`);

  const fixes = report.checks.filter(needsFix);
  if (fixes.length > 0) {
    lines.push('', 'To fix:');
    for (const c of fixes) {
      const [first, ...rest] = (c.fix ?? '').split('\n');
      lines.push(`  ${c.title}: ${first}`, ...rest.map((l) => `    ${l}`));
    }
  }
  lines.push(
    '',
    report.ok
      ? 'OK: everything the default options need works.'
      : 'FAIL: `sandbox exec` cannot run with the default options here (see the fixes above).',
  );
  return lines.join('\n') + '\n';
}
