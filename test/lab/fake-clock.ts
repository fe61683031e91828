import { createClock } from '@sinonjs/fake-timers';
import type { Clock } from '../../src/model/clock';

/** src's Clock seam driven by hand: time moves only with tick(). */
export interface FakeClock extends Clock {
  /** Moves time on by `ms`, running the timers that fall due (synchronously). */
  tick(ms: number): void;
  /** As tick(), letting promise callbacks run between the timers. */
  tickAsync(ms: number): Promise<void>;
  /** The timers pending. */
  countTimers(): number;
}

/** @sinonjs/fake-timers' clock behind the seam (its `now` is a property, the seam's a method). */
export function fakeClock(start = 0): FakeClock {
  const fake = createClock(start);
  return {
    now: () => fake.now,
    setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
    clearTimeout: (timer) => fake.clearTimeout(timer as ReturnType<typeof fake.setTimeout>),
    setInterval: (callback, ms) => fake.setInterval(callback, ms),
    clearInterval: (timer) => fake.clearInterval(timer as ReturnType<typeof fake.setInterval>),
    tick: (ms) => void fake.tick(ms),
    tickAsync: async (ms) => void (await fake.tickAsync(ms)),
    countTimers: () => fake.countTimers(),
  };
}
