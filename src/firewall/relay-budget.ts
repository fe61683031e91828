import type { Logger } from '../log';
import { LimitLog } from '../limit-log';

/**
 * How many file descriptors the loopback relays of all published ports together may hold (host-port.ts).
 * Each relayed TCP connection holds two (the client's and the upstream one), each UDP session one.
 *
 * The per-port caps (RELAY_LIMITS) bound one port, but many ports times the cap can still reach the
 * process's RLIMIT_NOFILE, and then the plugin socket cannot accept Docker's calls, the store cannot open
 * and no iptables can be spawned: tsnet is up but useless. So the relays share one budget, a fraction of
 * the soft limit minus a reserve for the daemon's own descriptors (the plugin socket and its connections,
 * the store, netlink, spawns' pipes, logs):
 *
 *   budget = floor(share × (soft limit − reserve))      e.g. 160 → 48, 1024 → 480, 1048576 → 524256
 *
 * A relay that finds the budget spent refuses the new connection (closed at once) or session (the port's
 * least recently active session makes room, else the datagram is dropped); the hit is logged at most once
 * a minute with the figures.
 */
export const RELAY_BUDGET = { share: 0.5, reserve: 64 };

export class RelayBudget {
  private used = 0;
  private readonly full: LimitLog;

  /** `limit`: descriptors the relays may hold together (Infinity: only the per-port caps). */
  constructor(
    readonly limit: number,
    logger?: Logger,
    fields: Record<string, unknown> = {},
    now?: () => number,
  ) {
    this.full = new LimitLog(
      logger,
      'loopback relays: descriptor budget reached; new relayed connections and sessions are refused',
      { budget: limit, ...fields },
      60_000,
      now,
    );
  }

  /** The budget for a process whose soft RLIMIT_NOFILE is `softLimit` (undefined: unlimited or unknown). */
  static forSoftLimit(softLimit: number | undefined, logger?: Logger): RelayBudget {
    if (softLimit === undefined || !Number.isFinite(softLimit)) return new RelayBudget(Infinity, logger);
    const limit = Math.max(0, Math.floor(RELAY_BUDGET.share * (softLimit - RELAY_BUDGET.reserve)));
    return new RelayBudget(limit, logger, { fdSoftLimit: softLimit, ...RELAY_BUDGET });
  }

  /** A budget that never runs out (the per-port caps still hold). */
  static unlimited(): RelayBudget {
    return new RelayBudget(Infinity);
  }

  /** Descriptors the relays hold now. */
  get inUse(): number {
    return this.used;
  }

  /**
   * Takes `n` descriptors if the budget has them; false (and a logged hit, with `where`) if not. Every
   * true must be matched by give(n) when the descriptors are closed.
   */
  take(n: number, where: Record<string, unknown> = {}): boolean {
    if (this.used + n > this.limit) {
      this.full.hit({ inUse: this.used, ...where });
      return false;
    }
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}
