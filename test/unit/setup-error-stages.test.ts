// The stage names lib/setup-error.ts interprets are the ones the C++ side reports: read from csrc/,
// so a stage renamed there cannot silently lose its detail or hint here.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { HINTED_STAGES, STAGE_DETAIL } from '../../lib/setup-error.js';

const CSRC = fileURLToPath(new URL('../../csrc/', import.meta.url));

/** Each reporting call's stage literal: die/fail/report_error(fd, ...)/child_report(fd, ...)/fail_with(f, ...)/abandon. */
function reportedStages(): { all: Set<string>; withoutDetail: Set<string> } {
  const all = new Set<string>();
  const withoutDetail = new Set<string>();
  const files = readdirSync(CSRC, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(cc|h)$/.test(f));
  for (const f of files) {
    const text = readFileSync(join(CSRC, f), 'utf8');
    for (const m of text.matchAll(/\b(die|fail|report_error|child_report|fail_with|abandon)\((?:\w+, )?"([a-z_-]+)"/g)) {
      all.add(m[2]!);
      // child_report sends a stage and an errno only (the clone child has no room for text).
      if (m[1] === 'child_report') withoutDetail.add(m[2]!);
    }
  }
  return { all, withoutDetail };
}

test('the C++ sources report stages the scan finds', (t) => {
  const { all, withoutDetail } = reportedStages();
  for (const s of ['mount', 'pivot_root', 'exec', 'clone', 'cgroup']) t.true(all.has(s), s);
  t.true(withoutDetail.size > 0);
});

test('every stage reported without a detail has one in lib/setup-error.ts, and no other', (t) => {
  const { withoutDetail } = reportedStages();
  t.deepEqual(Object.keys(STAGE_DETAIL).sort(), [...withoutDetail].sort());
});

test('every stage lib/setup-error.ts gives a hint for is one the C++ side reports', (t) => {
  const { all } = reportedStages();
  for (const s of HINTED_STAGES) t.true(all.has(s), `${s} is not reported by csrc/`);
});
