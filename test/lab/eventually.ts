/**
 * Waiting on conditions instead of sleeping. `eventually` polls a check until it passes (a check fails
 * by throwing, e.g. an assert); `during` samples a check over a whole window and fails at the first
 * sample that does not hold. Both are bounded in time and in the number of calls.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface EventuallyOptions {
  /** ms until giving up. */
  timeout: number;
  /** ms between two calls of the check (default 100). */
  interval?: number;
  /** What is awaited, for the error ("the plugin process on h1"). */
  what?: string;
}

export interface DuringOptions {
  /** ms between two samples (default 250). */
  interval?: number;
  /** What must hold, for the error. */
  what?: string;
}

/** The error of a check, as one line for a message. */
function describeFailure(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How many calls of a check fit in `window` ms at one per `interval` ms, with one at either end. */
function callBudget(window: number, interval: number): number {
  return Math.ceil(window / interval) + 2;
}

function positive(name: string, ms: number): number {
  if (!(ms > 0)) throw new RangeError(`${name} must be > 0 ms, got ${ms}`);
  return ms;
}

/**
 * Calls `check` until it returns without throwing; resolves to what it returned. After `timeout` ms the
 * error names `what` and the check's last failure.
 */
export async function eventually<T>(check: () => T | Promise<T>, options: EventuallyOptions): Promise<T> {
  const timeout = positive('timeout', options.timeout);
  const interval = positive('interval', options.interval ?? 100);
  const deadline = Date.now() + timeout;
  const budget = callBudget(timeout, interval);
  let lastFailure: unknown;
  for (let calls = 1; calls <= budget; calls++) {
    try {
      return await check();
    } catch (err) {
      lastFailure = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await delay(Math.min(interval, left));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${options.what ?? 'a condition'}; last failure: ${describeFailure(lastFailure)}`, {
    cause: lastFailure,
  });
}

/**
 * Samples `check` from now until `window` ms have passed (the first sample at once, the last at the
 * end of the window); throws at the first sample that fails, naming `what` and when in the window.
 * Resolves to the number of samples taken.
 */
export async function during(window: number, check: () => unknown, options: DuringOptions = {}): Promise<number> {
  positive('window', window);
  const interval = positive('interval', options.interval ?? 250);
  const start = Date.now();
  const end = start + window;
  const budget = callBudget(window, interval);
  let samples = 0;
  while (samples < budget) {
    try {
      await check();
    } catch (err) {
      throw new Error(`${options.what ?? 'a condition'} stopped holding ${Date.now() - start} ms into a ${window} ms window: ${describeFailure(err)}`, {
        cause: err,
      });
    }
    samples++;
    const left = end - Date.now();
    if (left <= 0) break;
    await delay(Math.min(interval, left));
  }
  return samples;
}

/**
 * `eventually` for a probe that answers undefined while the awaited thing is not there yet: resolves
 * to the first defined answer.
 */
export function eventuallyDefined<T>(probe: () => T | undefined | Promise<T | undefined>, options: EventuallyOptions): Promise<T> {
  return eventually(async () => {
    const value = await probe();
    if (value === undefined) throw new Error('not there yet');
    return value;
  }, { interval: 250, ...options });
}
