import { systemClock, type Clock, type ClockTimer } from '../model/clock';

/**
 * How many calls the plugin socket serves at once. Anyone who may open the socket can send calls as
 * fast as they like; each call being served holds its body (up to MAX_BODY_BYTES) and its handler's
 * work, so only `inFlight` are served at once, at most `queued` more wait their turn (headers read,
 * body left in the kernel's socket buffer), and a call that waited `queueWaitMs` is refused rather than
 * served after Docker gave up on it. Docker's own calls are far fewer: one per container or network
 * operation, and libnetwork serialises most of them.
 */
export interface AdmissionLimits {
  inFlight: number;
  queued: number;
  queueWaitMs: number;
}

export const REQUEST_LIMITS: AdmissionLimits = { inFlight: 32, queued: 128, queueWaitMs: 30_000 };

export type Refusal = 'queue full' | 'waited too long';

interface Waiter {
  admitted: (release: () => void) => void;
  refused: (why: Refusal) => void;
  timer: ClockTimer;
}

/** A counting semaphore with a bounded FIFO queue and a bounded wait (one timer per waiting call). */
export class Admission {
  private running = 0;
  private readonly waiting = new Set<Waiter>();

  constructor(
    readonly limits: AdmissionLimits = REQUEST_LIMITS,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Calls being served, and calls waiting. */
  get counts(): { inFlight: number; queued: number } {
    return { inFlight: this.running, queued: this.waiting.size };
  }

  /**
   * Calls `admitted(release)` at once when a slot is free, or later when one frees up; `refused` when the
   * queue is full or the wait ran out. Exactly one of them is called, unless the returned cancel() runs
   * first (the caller left while waiting). release() is idempotent.
   */
  enter(admitted: (release: () => void) => void, refused: (why: Refusal) => void): () => void {
    if (this.running < this.limits.inFlight && this.waiting.size === 0) {
      this.running++;
      admitted(this.releaser());
      return () => undefined;
    }
    if (this.waiting.size >= this.limits.queued) {
      refused('queue full');
      return () => undefined;
    }
    const waiter: Waiter = {
      admitted,
      refused,
      timer: this.clock.setTimeout(() => {
        if (this.waiting.delete(waiter)) refused('waited too long');
      }, this.limits.queueWaitMs),
    };
    this.waiting.add(waiter);
    return () => {
      if (this.waiting.delete(waiter)) this.clock.clearTimeout(waiter.timer);
    };
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running--;
      this.next();
    };
  }

  private next(): void {
    while (this.running < this.limits.inFlight) {
      const first = this.waiting.values().next();
      if (first.done) return;
      const waiter = first.value;
      this.waiting.delete(waiter);
      this.clock.clearTimeout(waiter.timer);
      this.running++;
      waiter.admitted(this.releaser());
    }
  }
}
