/**
 * The last run of a background task (firewall check, reconcile, leak collector, peer refresh), kept by
 * the task itself and read by `tsnet status` and the metrics. Bounded: a few numbers and one string.
 */
export interface TaskRun {
  at: Date;
  ms: number;
  ok: boolean;
  detail?: string;
}

export class TaskStatus {
  runs = 0;
  failures = 0;
  last?: TaskRun;

  constructor(readonly name: string) {}

  record(ok: boolean, ms: number, detail?: string, at: Date = new Date()): void {
    this.runs += 1;
    if (!ok) this.failures += 1;
    // A long error (an iptables batch) is cut: this is a summary, the log has the whole of it.
    this.last = { at, ms: Math.round(ms), ok, ...(detail !== undefined ? { detail: detail.length > 300 ? `${detail.slice(0, 300)}…` : detail } : {}) };
  }

  /** Runs fn and records how it went; fn's result or error is passed on. */
  async track<T>(fn: () => Promise<T>, summary?: (result: T) => string | undefined): Promise<T> {
    const started = Date.now();
    try {
      const result = await fn();
      this.record(true, Date.now() - started, summary?.(result));
      return result;
    } catch (err) {
      this.record(false, Date.now() - started, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }
}
