// Timers for delays of any length. Node's setTimeout holds at most 2^31-1 ms (~24.8 days): a
// longer delay fires after 1 ms with a TimeoutOverflowWarning (the setTimeout documentation), so
// a limit near the documented maximum plus an allowance would end a run at once. Longer delays
// are chained: one timer for the most a timer holds, then one for the rest.

/** The longest delay one Node timer holds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  /** Stops it (idempotent). */
  clear(): void;
}

/** Calls `fn` once after `ms` (fractions and values beyond MAX_TIMER_MS allowed). */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout | null = null;
  let left = Math.max(0, ms);
  const arm = (): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    timer = setTimeout(() => {
      timer = null;
      if (left > 0) arm();
      else fn();
    }, step);
  };
  arm();
  return {
    clear() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
