import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * tsnet's Prometheus metrics (prom-client), one registry per daemon. Label values come from bounded
 * sets only: the protocol's call names (unknown paths share one value), HTTP status codes, pools and
 * networks (each bounded by what the store holds), peer sources. No label per endpoint or container.
 * Gauges of state (pools, endpoints, peers) and the counters kept by the background tasks are read at
 * scrape time from MetricSources, so nothing has to remember to update them.
 */
export interface PoolUse {
  pool: string;
  addressSpace: string;
  used: number;
  free: number;
}

export interface MetricSources {
  pools(): PoolUse[];
  /** Endpoints per network (network: the 12-character ID prefix). */
  endpointsPerNetwork(): Array<{ network: string; type: string; endpoints: number }>;
  /** Periodic firewall checks that rewrote something, since the start. */
  firewallRepairs(): number;
  /** VXLAN peers per network and source. */
  peersPerNetwork(): Array<{ network: string; source: string; peers: number }>;
  /** What the leak collector released, since the start. */
  leakReleases(): { endpoints: number; networks: number };
}

export const NO_SOURCES: MetricSources = {
  pools: () => [],
  endpointsPerNetwork: () => [],
  firewallRepairs: () => 0,
  peersPerNetwork: () => [],
  leakReleases: () => ({ endpoints: 0, networks: 0 }),
};

/** Call names outside this set (probes, typos) are all counted as "other". */
export type CallNames = ReadonlySet<string>;

export class TsnetMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'call' | 'status'>;
  private readonly callSeconds: Histogram<'call'>;
  private readonly reconcileSeconds: Gauge;

  constructor(
    private readonly callNames: CallNames,
    private sources: MetricSources = NO_SOURCES,
    options: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.calls = new Counter({ name: 'tsnet_calls_total', help: 'Calls on the plugin socket by endpoint and HTTP status', labelNames: ['call', 'status'], registers });
    this.callSeconds = new Histogram({
      name: 'tsnet_call_duration_seconds',
      help: 'Time to answer a call on the plugin socket, by endpoint',
      labelNames: ['call'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.reconcileSeconds = new Gauge({ name: 'tsnet_reconcile_duration_seconds', help: 'Duration of the last start-up reconcile of the kernel with the store', registers });
    const self = this;
    new Gauge({
      name: 'tsnet_ipam_addresses',
      help: 'IPAM addresses per pool, used or free',
      labelNames: ['pool', 'address_space', 'state'],
      registers,
      collect() {
        this.reset();
        for (const p of self.sources.pools()) {
          this.set({ pool: p.pool, address_space: p.addressSpace, state: 'used' }, p.used);
          this.set({ pool: p.pool, address_space: p.addressSpace, state: 'free' }, p.free);
        }
      },
    });
    new Gauge({
      name: 'tsnet_endpoints',
      help: 'Endpoints per network',
      labelNames: ['network', 'type'],
      registers,
      collect() {
        this.reset();
        for (const n of self.sources.endpointsPerNetwork()) this.set({ network: n.network, type: n.type }, n.endpoints);
      },
    });
    new Gauge({
      name: 'tsnet_vxlan_peers',
      help: 'VXLAN peers per network by where they came from (static, swarm, docker, learned, carried)',
      labelNames: ['network', 'source'],
      registers,
      collect() {
        this.reset();
        for (const p of self.sources.peersPerNetwork()) this.set({ network: p.network, source: p.source }, p.peers);
      },
    });
    monotonic(registers, 'tsnet_firewall_repairs_total', 'Periodic firewall checks that found tsnet chains, rules or hooks missing or moved and rewrote them', () => self.sources.firewallRepairs());
    const released = { endpoints: 0, networks: 0 };
    new Counter({
      name: 'tsnet_leak_collector_releases_total',
      help: 'Endpoints and networks Docker no longer knows that the leak collector released',
      labelNames: ['object'],
      registers,
      collect() {
        const now = self.sources.leakReleases();
        for (const object of ['endpoints', 'networks'] as const) {
          // Both series exist from the first scrape, at 0.
          this.inc({ object }, Math.max(0, now[object] - released[object]));
          released[object] = Math.max(released[object], now[object]);
        }
      },
    });
  }

  /** Sources attach once the daemon's parts exist (the app is built before). */
  attach(sources: MetricSources): void {
    this.sources = sources;
  }

  observeCall(call: string, status: number, seconds: number): void {
    const name = this.callNames.has(call) ? call : 'other';
    this.calls.inc({ call: name, status: String(status) });
    this.callSeconds.observe({ call: name }, seconds);
  }

  setReconcileDuration(seconds: number): void {
    this.reconcileSeconds.set(seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A counter whose value a source keeps (it only grows): the difference since the last scrape is added. */
function monotonic(registers: Registry[], name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      this.inc(Math.max(0, now - seen));
      seen = Math.max(seen, now);
    },
  });
}
