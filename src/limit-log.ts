import type { Logger } from './log';

/**
 * A warning for a limit that was hit, written at most once per interval (default a minute) however
 * often the limit is hit, with how many times it was hit since the last line: an outsider who keeps
 * hitting a limit must not be able to fill the log either.
 */
export class LimitLog {
  private last = -Infinity;
  private hits = 0;

  constructor(
    private readonly logger: Logger | undefined,
    private readonly message: string,
    private readonly fields: Record<string, unknown>,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** One more hit; `figures` (what was measured this time) go into the line when one is written. */
  hit(figures: Record<string, unknown> = {}): void {
    this.hits++;
    const t = this.now();
    if (t - this.last < this.intervalMs) return;
    this.last = t;
    this.logger?.warn(this.message, { ...this.fields, ...figures, hits: this.hits, perMs: this.intervalMs });
    this.hits = 0;
  }
}
