import { systemClock, type Clock, type ClockTimer } from './clock';

export interface PeriodicTaskOptions {
  /** One pass of the background work. */
  pass: () => Promise<void>;
  /** The wait before the next pass, asked after each one (back-off lives in the caller). */
  nextDelayMs: () => number;
  /** A pass that rejected after all: a bug, not Docker or the kernel. The next pass still comes. */
  onError: (err: unknown) => void;
  clock?: Clock;
}

/**
 * A background pass on a schedule: the first at once after start(), each next one `nextDelayMs()`
 * after the previous ended, never two at a time. stop() clears the timer and waits for a pass in flight.
 */
export class PeriodicTask {
  private timer: ClockTimer | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly clock: Clock;

  constructor(private readonly options: PeriodicTaskOptions) {
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass now; a call while one is in flight shares it. */
  runOnce(): Promise<void> {
    this.running ??= this.options.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.runOnce()
        .catch(this.options.onError)
        .then(() => this.schedule(this.options.nextDelayMs()));
    }, delayMs);
  }
}
