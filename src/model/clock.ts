/**
 * Time as the daemon's background work sees it: grace timers, periodic checks, back-off. Injected so
 * that tests drive it with a fake clock (test/lab/fake-clock.ts, over @sinonjs/fake-timers) instead of
 * sleeping through real timers.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
  setInterval(callback: () => void, ms: number): ClockTimer;
  clearInterval(timer: ClockTimer): void;
}

/** A timer handle; real ones are unref'd so background work never keeps the process alive. */
export type ClockTimer = unknown;

/** The real clock: Date.now and Node's timers, each timer unref'd. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
};
