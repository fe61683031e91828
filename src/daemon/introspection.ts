import fs from 'node:fs';
import path from 'node:path';
import type { Settings } from '../config/settings';
import type { NetworkDriver } from '../driver/driver';
import { chainNames, hooks, Markers, ownChains } from '../firewall/rules';
import type { Ipam } from '../ipam/ipam';
import type { MetricSources, PoolUse } from '../metrics/metrics';
import type { TaskStatus } from '../model/task-status';
import type { PeerView, StatusView, TaskStatusView } from '../protocol';
import type { Store } from '../store/store';

/**
 * What `tsnet status` and the metrics read from the parts main.ts makes (firewall, leak collector,
 * VXLAN data path). main fills it in as the parts come to exist; everything is optional.
 */
export interface IntrospectionParts {
  /** Background tasks shown by `tsnet status` (the start-up reconcile is added by the daemon). */
  tasks: TaskStatus[];
  firewallBackend?: () => Promise<string | undefined>;
  peers?: () => PeerView[];
  firewallRepairs?: () => number;
  leakReleases?: () => { endpoints: number; networks: number };
}

/** The package's version (package.json two levels above dist/src); "unknown" when it cannot be read. */
export function packageVersion(): string {
  try {
    const text = fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Addresses a pool can hand out: IPv4 without network and broadcast (a /31 or /32 keeps all). */
export function poolCapacity(cidr: string): number {
  const [address, len] = cidr.split('/');
  const bits = (address!.includes(':') ? 128 : 32) - Number(len);
  const size = 2 ** bits;
  return address!.includes(':') ? size : bits >= 2 ? size - 2 : size;
}

export class Introspection {
  private readonly startedAt = new Date();

  constructor(
    private readonly settings: Settings,
    private readonly store: Store,
    private readonly driver: NetworkDriver,
    private readonly ipam: Ipam,
    readonly parts: IntrospectionParts,
  ) {}

  async status(): Promise<StatusView> {
    const names = chainNames(this.settings.instance);
    const markers = new Markers(this.settings.instance);
    const backend = await this.parts.firewallBackend?.().catch(() => undefined);
    return {
      version: packageVersion(),
      instance: this.settings.instance,
      scope: this.settings.scope,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      socket: this.settings.socketPath,
      stateDir: this.settings.stateDir,
      store: this.store.size(),
      counts: { networks: this.driver.networkCount(), endpoints: this.driver.endpointCount(), pools: this.ipam.listPools().length },
      tasks: this.parts.tasks.map(taskView),
      firewall: {
        ...(backend ? { backend } : {}),
        chains: ownChains(names),
        ebtablesChain: names.egress,
        hooks: hooks(names, markers, 4).map((h) => ({ table: h.table, chain: h.chain, spec: h.spec, placement: h.placement })),
        commentPrefix: `tsnet:${this.settings.instance}:`,
      },
      linkMarkerPrefix: `tsnet:${this.settings.instance}:`,
    };
  }

  peers(): PeerView[] {
    return this.parts.peers?.() ?? [];
  }

  metricSources(): MetricSources {
    return {
      pools: () => this.ipam.listPools().map((p): PoolUse => {
        const used = this.ipam.allocated(p.id).length;
        return { pool: p.subPool || p.pool, addressSpace: p.addressSpace, used, free: Math.max(0, poolCapacity(p.subPool || p.pool) - used) };
      }),
      endpointsPerNetwork: () => this.driver.networks().map((n) => ({ network: n.id.slice(0, 12), type: n.type, endpoints: this.driver.endpoints(n.id).length })),
      firewallRepairs: () => this.parts.firewallRepairs?.() ?? 0,
      peersPerNetwork: () => {
        const counts = new Map<string, number>();
        for (const p of this.peers()) for (const s of p.sources) {
          const key = `${p.networkId.slice(0, 12)}\u0000${s}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        return [...counts].map(([key, peers]) => {
          const [network, source] = key.split('\u0000') as [string, string];
          return { network, source, peers };
        });
      },
      leakReleases: () => this.parts.leakReleases?.() ?? { endpoints: 0, networks: 0 },
    };
  }
}

function taskView(t: TaskStatus): TaskStatusView {
  const view: TaskStatusView = { name: t.name, runs: t.runs, failures: t.failures };
  if (t.last) {
    view.lastRun = t.last.at.toISOString();
    view.lastMs = t.last.ms;
    view.ok = t.last.ok;
    if (t.last.detail !== undefined) view.detail = t.last.detail;
  }
  return view;
}
