import type { Clock, ClockTimer } from '../../model/clock';

export interface PeerSetOptions {
  clock: Clock;
  /** How long a node stays a discovered peer after DiscoverDelete, in ms. */
  graceMs: number;
  /** Called when a node's grace period ran out (it is then no longer discovered). */
  onGone(address: string): void;
}

/**
 * Who a host's VXLAN networks flood to, besides their configured peers: the nodes Swarm announced
 * (DiscoverNew / DiscoverDelete, with a grace period), the peers Docker lists per network, the VTEPs a
 * network's traffic came from, and the flood entries a surviving device carried over a restart. Pure
 * bookkeeping over canonical addresses; time comes from the injected clock.
 */
export class PeerSet {
  /** The other nodes (DiscoverNew): flood destinations of every network. */
  private readonly discovered = new Set<string>();
  /** DiscoverDelete grace timers by address. */
  private readonly leaving = new Map<string, ClockTimer>();
  /** The peers Docker lists, by network. */
  private readonly listed = new Map<string, Set<string>>();
  /** VTEPs that sent this network's traffic (self-healing), by network; kept while the network lives. */
  private readonly learned = new Map<string, Set<string>>();
  /**
   * Flood destinations found on a network's device at reconcile (the kernel keeps them across a
   * restart, the sets above do not): still flooded to until Docker's peer list of the network was read.
   */
  private readonly carried = new Map<string, Set<string>>();

  constructor(private readonly options: PeerSetOptions) {}

  /**
   * A node (re-)joined: a pending removal is cancelled. True when it was not a discovered peer before
   * (the flood entries then change).
   */
  join(address: string): boolean {
    const pending = this.leaving.get(address);
    if (pending !== undefined) this.options.clock.clearTimeout(pending);
    this.leaving.delete(address);
    if (this.discovered.has(address)) return false;
    this.discovered.add(address);
    return true;
  }

  /**
   * A node left: it stays discovered for the grace period, after which onGone() is called, unless it
   * joins again meanwhile. True when this started a grace period (not for an unknown node, nor for one
   * already leaving).
   */
  leave(address: string): boolean {
    if (!this.discovered.has(address) || this.leaving.has(address)) return false;
    const timer = this.options.clock.setTimeout(() => {
      this.leaving.delete(address);
      this.discovered.delete(address);
      this.options.onGone(address);
    }, this.options.graceMs);
    this.leaving.set(address, timer);
    return true;
  }

  /** How long a node stays discovered after it left. */
  get graceMs(): number {
    return this.options.graceMs;
  }

  isDiscovered(address: string): boolean {
    return this.discovered.has(address);
  }

  /** Docker's peer list of a network was read: it replaces the previous one and ends the carried-over entries. */
  setListed(networkId: string, addresses: Iterable<string>): void {
    this.listed.set(networkId, new Set(addresses));
    this.carried.delete(networkId);
  }

  /** VTEPs that sent the network's traffic; they stay flood peers while the network lives. */
  learn(networkId: string, addresses: Iterable<string>): void {
    const set = this.learned.get(networkId) ?? new Set<string>();
    for (const ip of addresses) set.add(ip);
    this.learned.set(networkId, set);
  }

  /** The flood destinations a network's device had at reconcile, kept until Docker's list is read. */
  carry(networkId: string, addresses: Iterable<string>): void {
    this.carried.set(networkId, new Set(addresses));
  }

  /** The network is gone: its listed, learned and carried peers go too. */
  forget(networkId: string): void {
    this.carried.delete(networkId);
    this.learned.delete(networkId);
    this.listed.delete(networkId);
  }

  /** The control addresses of the nodes Swarm names: discovered and listed for any network. */
  controlAddresses(): Set<string> {
    return new Set([...this.discovered, ...[...this.listed.values()].flatMap((set) => [...set])]);
  }

  /**
   * A network's flood destinations from this set (not yet deduplicated, nor filtered by family or own
   * address): discovered and listed nodes through `floodAddressOf` (their data-path address where one is
   * known), then learned and carried VTEPs as they are.
   */
  destinationsOf(networkId: string, floodAddressOf: (control: string) => string): string[] {
    return [
      ...[...this.discovered, ...(this.listed.get(networkId) ?? [])].map(floodAddressOf),
      ...(this.learned.get(networkId) ?? []),
      ...(this.carried.get(networkId) ?? []),
    ];
  }

  /** A network's peers from this set by where each came from (diagnostics: `tsnet peers`, metrics). */
  sourcesOf(networkId: string): { swarm: string[]; docker: string[]; learned: string[]; carried: string[] } {
    return {
      swarm: [...this.discovered],
      docker: [...(this.listed.get(networkId) ?? [])],
      learned: [...(this.learned.get(networkId) ?? [])],
      carried: [...(this.carried.get(networkId) ?? [])],
    };
  }

  /** Cancels the pending grace timers (shutdown). */
  stop(): void {
    for (const timer of this.leaving.values()) this.options.clock.clearTimeout(timer);
    this.leaving.clear();
  }
}
