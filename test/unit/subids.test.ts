import test from 'ava';
import { parseSubordinate, subordinateMap } from '../../lib/subids.js';

test('parseSubordinate finds the caller by name or uid and skips malformed lines', (t) => {
  const text = 'alice:100000:65536\nbroken\nbob:x:1\n1001:300000:65536\n';
  t.deepEqual(parseSubordinate(text, 'alice', 1000), { start: 100000, count: 65536 });
  t.deepEqual(parseSubordinate(text, 'carol', 1001), { start: 300000, count: 65536 });
  t.is(parseSubordinate(text, 'bob', 1002), null);
  t.is(parseSubordinate('', 'alice', 1000), null);
});

test('subordinateMap keeps the caller at the inside id and fills 0-65535 from the range', (t) => {
  t.deepEqual(subordinateMap(1000, 1234, { start: 100000, count: 65536 }), [1000, 1234, 1, 0, 100000, 1000, 1001, 101000, 64535]);
  // A short range maps what it can, never past it.
  t.deepEqual(subordinateMap(1000, 1234, { start: 100000, count: 10 }), [1000, 1234, 1, 0, 100000, 10]);
});
