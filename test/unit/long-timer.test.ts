// setLongTimeout: delays past Node's single-timer maximum (2^31-1 ms) are chained, never handed to
// one setTimeout (which would fire after 1 ms). The timers are recorded, not waited for.
import test from 'ava';
import { MAX_TIMER_MS, setLongTimeout } from '../../lib/long-timer.js';

/** Runs body with setTimeout recorded, until every chained timer has fired; the delays asked for. */
async function recording(body: () => void): Promise<number[]> {
  const real = globalThis.setTimeout;
  const delays: number[] = [];
  // Each timer "fires" on the next microtask, in order.
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    delays.push(ms);
    queueMicrotask(fn);
    return real(() => {}, 0);
  }) as typeof setTimeout;
  try {
    body();
    await new Promise((r) => setImmediate(r));
    return delays;
  } finally {
    globalThis.setTimeout = real;
  }
}

test.serial('a delay at the documented maximum plus the setup allowance is chained: no timer over 2^31-1 ms', async (t) => {
  let fired = 0;
  const delays = await recording(() => setLongTimeout(() => fired++, 2147483.647 * 1000 + 5000));
  t.is(fired, 1);
  t.true(
    delays.every((d) => d <= MAX_TIMER_MS),
    delays.join(' '),
  );
  t.is(
    delays.reduce((a, b) => a + b, 0),
    2147483.647 * 1000 + 5000,
  );
});

test.serial('a short delay is one timer; clear() stops a chain', async (t) => {
  let fired = 0;
  const delays = await recording(() => setLongTimeout(() => fired++, 250));
  t.deepEqual(delays, [250]);
  t.is(fired, 1);
  const real = setLongTimeout(() => fired++, 3 * MAX_TIMER_MS);
  real.clear();
  real.clear();
  t.is(fired, 1);
});
