import fs from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { LimitLog } from '../limit-log';
import type { Logger } from '../log';
import { systemClock, type Clock, type ClockTimer } from '../model/clock';

/**
 * The process's own view of what an outsider could exhaust: open fds against the soft RLIMIT_NOFILE (and
 * what the loopback relays hold of their share),
 * event-loop delay (a loop kept busy answers Docker late), the store's size and the state directory's
 * free space. Sampled periodically; a crossed threshold is a warning at most once a minute per kind,
 * with its figure. The last figures also go into the SIGUSR2 report (memory-report.ts).
 */
export interface ProcessFigures {
  openFds: number;
  /** The soft RLIMIT_NOFILE (undefined: unlimited or unreadable). */
  fdSoftLimit?: number;
  /** Event-loop delay over the window since the last sample, in ms. */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  storeUsedKiB?: number;
  storeFileKiB?: number;
  diskFreeKiB?: number;
  /** Descriptors the loopback relays of published ports hold, and their shared budget (absent: unlimited). */
  relayFdsInUse?: number;
  relayFdBudget?: number;
}

/** What the loopback relays hold against their budget (firewall/relay-budget.ts); limit Infinity: none. */
export interface RelayFigures {
  inUse: number;
  limit: number;
}

export interface WatchdogThresholds {
  /** Warn when open fds reach this share of the soft limit. */
  fdShare: number;
  /** Warn when the event loop's p99 delay over a window reaches this. */
  eventLoopDelayP99Ms: number;
  /** Warn when the state directory's file system has less free space than this. */
  diskFreeKiB: number;
}

export const WATCHDOG_THRESHOLDS: WatchdogThresholds = { fdShare: 0.8, eventLoopDelayP99Ms: 500, diskFreeKiB: 16 * 1024 };

export type Crossing = 'fds' | 'event-loop-delay' | 'disk-free';

/** The thresholds `f` crosses, with the figures that show it. Pure. */
export function crossings(f: ProcessFigures, t: WatchdogThresholds): Array<{ kind: Crossing; figures: Record<string, number> }> {
  const out: Array<{ kind: Crossing; figures: Record<string, number> }> = [];
  if (f.fdSoftLimit !== undefined && f.openFds >= t.fdShare * f.fdSoftLimit) {
    out.push({ kind: 'fds', figures: { openFds: f.openFds, fdSoftLimit: f.fdSoftLimit } });
  }
  if (f.eventLoopDelayP99Ms >= t.eventLoopDelayP99Ms) {
    out.push({ kind: 'event-loop-delay', figures: { eventLoopDelayP99Ms: f.eventLoopDelayP99Ms, eventLoopDelayMaxMs: f.eventLoopDelayMaxMs } });
  }
  if (f.diskFreeKiB !== undefined && f.diskFreeKiB < t.diskFreeKiB) {
    out.push({ kind: 'disk-free', figures: { diskFreeKiB: f.diskFreeKiB, ...(f.storeFileKiB !== undefined ? { storeFileKiB: f.storeFileKiB } : {}) } });
  }
  return out;
}

const MESSAGES: Record<Crossing, string> = {
  fds: 'watchdog: open file descriptors near the soft limit',
  'event-loop-delay': 'watchdog: event loop delayed',
  'disk-free': 'watchdog: state directory file system nearly full',
};

/** Where the figures come from (the process itself in production, a fake in tests). */
export interface FigureSource {
  /** The figures now; `endWindow` starts a new event-loop delay window. Never throws. */
  read(endWindow: boolean): ProcessFigures;
  stop?(): void;
}

/** The running process: /proc/self, perf_hooks' event-loop delay histogram, and the store's size(). */
export class ProcessFigureSource implements FigureSource {
  private readonly delay: IntervalHistogram;

  constructor(
    private readonly store?: { size(): { usedBytes: number; fileBytes: number; diskFreeBytes?: number } },
    private readonly relays?: RelayFigures,
  ) {
    this.delay = monitorEventLoopDelay({ resolution: 20 });
    this.delay.enable();
  }

  read(endWindow: boolean): ProcessFigures {
    const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);
    const figures: ProcessFigures = {
      openFds: openFdCount(),
      fdSoftLimit: fdSoftLimit(),
      eventLoopDelayP99Ms: this.delay.count > 0 ? ms(this.delay.percentile(99)) : 0,
      eventLoopDelayMaxMs: this.delay.count > 0 ? ms(this.delay.max) : 0,
    };
    if (endWindow) this.delay.reset();
    if (this.relays) {
      figures.relayFdsInUse = this.relays.inUse;
      if (Number.isFinite(this.relays.limit)) figures.relayFdBudget = this.relays.limit;
    }
    if (this.store) {
      try {
        const size = this.store.size();
        figures.storeUsedKiB = Math.round(size.usedBytes / 1024);
        figures.storeFileKiB = Math.round(size.fileBytes / 1024);
        if (size.diskFreeBytes !== undefined) figures.diskFreeKiB = Math.round(size.diskFreeBytes / 1024);
      } catch {
        // a closed store: no store figures
      }
    }
    return figures;
  }

  stop(): void {
    this.delay.disable();
  }
}

/** Open fds of this process (the directory read's own fd not counted); -1 where there is no /proc. */
export function openFdCount(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return -1;
  }
}

/** The soft RLIMIT_NOFILE from /proc/self/limits; undefined when unlimited or unreadable. */
export function fdSoftLimit(limits?: string): number | undefined {
  let text = limits;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  const n = m ? Number(m[1]) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export interface WatchdogOptions {
  log: Logger;
  source: FigureSource;
  clock?: Clock;
  thresholds?: WatchdogThresholds;
  /** How often the figures are sampled. Default 10 s. */
  intervalMs?: number;
  /** At most one warning per kind per this. Default a minute. */
  logIntervalMs?: number;
}

export class Watchdog {
  private readonly clock: Clock;
  private readonly thresholds: WatchdogThresholds;
  private readonly intervalMs: number;
  private readonly warnings: Record<Crossing, LimitLog>;
  private timer?: ClockTimer;
  private last?: ProcessFigures;

  constructor(private readonly options: WatchdogOptions) {
    this.clock = options.clock ?? systemClock;
    this.thresholds = options.thresholds ?? WATCHDOG_THRESHOLDS;
    this.intervalMs = options.intervalMs ?? 10_000;
    const every = options.logIntervalMs ?? 60_000;
    const warning = (kind: Crossing, threshold: Record<string, number>) =>
      new LimitLog(options.log, MESSAGES[kind], { threshold }, every, () => this.clock.now());
    this.warnings = {
      fds: warning('fds', { fdShare: this.thresholds.fdShare }),
      'event-loop-delay': warning('event-loop-delay', { eventLoopDelayP99Ms: this.thresholds.eventLoopDelayP99Ms }),
      'disk-free': warning('disk-free', { diskFreeKiB: this.thresholds.diskFreeKiB }),
    };
  }

  start(): void {
    this.timer ??= this.clock.setInterval(() => this.check(), this.intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.options.source.stop?.();
  }

  /** One sample (ending the event-loop window); warns for each threshold crossed. Returns the figures. */
  check(): ProcessFigures {
    const figures = this.options.source.read(true);
    this.last = figures;
    for (const { kind, figures: shown } of crossings(figures, this.thresholds)) this.warnings[kind].hit(shown);
    return figures;
  }

  /**
   * For the SIGUSR2 report: fds and store now, event-loop delay over the current window (or the last
   * one, when the current has no sample yet). Does not end the window.
   */
  figures(): ProcessFigures {
    const now = this.options.source.read(false);
    if (this.last && now.eventLoopDelayMaxMs === 0) {
      return { ...now, eventLoopDelayP99Ms: this.last.eventLoopDelayP99Ms, eventLoopDelayMaxMs: this.last.eventLoopDelayMaxMs };
    }
    return now;
  }
}
