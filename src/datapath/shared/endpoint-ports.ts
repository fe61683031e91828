import { isIP } from 'node:net';
import type { EndpointRecord, NetworkRecord, PublishedPortsState } from '../../model/records';
import type { Logger } from '../../log';
import type { PortBinding } from '../../protocol';
import type { PortsNetwork } from '../../firewall/network';
import { portsNetworkOf } from './firewall-network';

/**
 * The port-publishing seam (`docker run -p`): firewall/ports.ts's PortPublisher. publishPorts replaces
 * what the endpoint published before and returns the mappings made (concrete host IP and port);
 * publishing that result again maps the same ports. unpublishPorts is idempotent. reconcile publishes
 * every listed endpoint and drops the published ports of every endpoint not listed whose network is in
 * `scope.networks` (all networks without a scope), so data paths sharing one publisher each reconcile
 * their own.
 */
export interface BridgePorts {
  publishPorts(
    net: PortsNetwork,
    endpointId: string,
    containerIPv4: string | undefined,
    containerIPv6: string | undefined,
    bindings: PortBinding[],
  ): Promise<PortBinding[]>;
  unpublishPorts(net: Pick<PortsNetwork, 'id'>, endpointId: string): Promise<void>;
  reconcile(
    entries: {
      net: PortsNetwork;
      endpointId: string;
      containerIPv4?: string;
      containerIPv6?: string;
      bindings: PortBinding[];
    }[],
    scope?: { networks: Iterable<string> },
  ): Promise<{ endpointId: string; bindings?: PortBinding[]; error?: string }[]>;
}

/** An endpoint whose ports reconcile could not restore (already logged). */
export interface LostPorts {
  networkId: string;
  endpointId: string;
  error: string;
}

const PROTOCOL_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/**
 * One data path's side of published ports: publishes and unpublishes its endpoints' ports through the
 * shared publisher, remembers which endpoints this process published, and at reconcile republishes
 * its own endpoints (scoped to its own networks). Without a publisher it publishes nothing.
 */
export class EndpointPorts {
  /**
   * Endpoints whose ports this process published (Program, or reconcile at start). Revoke and
   * DeleteEndpoint of any other endpoint skip the firewall: Docker revokes, then deletes, and a
   * container without ports should cost no iptables run at all.
   */
  private readonly published = new Set<string>();

  constructor(
    private readonly ports: BridgePorts | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * ProgramExternalConnectivity: publishes the endpoint's ports (`-p`, `-P`) and returns
   * { publishedPorts } for ep.datapath. Docker sends no Program for --internal networks; should one
   * arrive anyway, nothing is published.
   */
  async program(net: NetworkRecord, ep: EndpointRecord): Promise<Partial<PublishedPortsState>> {
    if (!this.ports) return {};
    if (net.internal) {
      if (ep.portBindings.length > 0) {
        this.log.warn('ports not published: the network is internal', { networkId: net.id, endpointId: ep.id });
      }
      return {};
    }
    // Nothing to publish and nothing published before: leave the firewall alone (container start latency).
    if (ep.portBindings.length === 0 && !this.published.has(ep.id)) return {};
    // Program again without a Revoke in between (Docker 29; a gateway change): what is published stays,
    // the same host ports (also -P and ranges, and after a restart), no second mapping.
    const again = ep.externalConnectivity ? ep.datapath.publishedPorts : undefined;
    let mappings: PortBinding[];
    try {
      mappings = await this.ports.publishPorts(portsNetworkOf(net), ep.id, ep.address, ep.addressIPv6, again ?? ep.portBindings);
    } catch (err) {
      // The publisher has removed whatever this endpoint had published.
      this.published.delete(ep.id);
      throw err;
    }
    this.published.add(ep.id);
    if (again === undefined) this.logMappings(net, ep, mappings, false);
    else this.log.info('ProgramExternalConnectivity repeated: published ports kept', { networkId: net.id, endpointId: ep.id, mappings: mappings.map(describeHost) });
    const state: PublishedPortsState = { publishedPorts: mappings };
    return { ...state };
  }

  /** RevokeExternalConnectivity: removes the endpoint's published ports (rules and held sockets); idempotent. */
  async revoke(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    // Also for a stored endpoint this process did not publish (its start-up republish failed): its
    // rules are removed by marker.
    if (this.published.has(ep.id) || (ep.externalConnectivity && (ep.portBindings.length > 0 || publishedOf(ep).length > 0))) {
      await this.unpublish(net, ep);
    }
  }

  /** DeleteEndpoint: normally revoked already (the driver revokes first); this covers a record that missed it. */
  async release(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    if (this.published.has(ep.id)) await this.unpublish(net, ep);
  }

  /**
   * Republishes the ports of every endpoint with external connectivity, from the mappings stored at
   * Program (so `-P` and range ports come back as the same host ports), and drops published ports of
   * endpoints of these networks that are gone. A port that cannot be taken back (a host service took
   * it meanwhile) is logged as an error and returned, not thrown: one lost port must not keep tsnet
   * from starting. Only a failure of the publisher itself (the firewall) throws.
   */
  async reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<LostPorts[]> {
    if (!this.ports) return [];
    const byId = new Map(nets.map((n) => [n.id, n]));
    const entries = [];
    for (const ep of eps) {
      const net = byId.get(ep.networkId);
      if (!net || net.internal || !ep.externalConnectivity) continue;
      // Stored mappings when Program recorded them (same host ports); else what Docker asked for.
      const bindings = ep.datapath.publishedPorts ?? ep.portBindings;
      if (bindings.length === 0) continue;
      entries.push({ net, ep, bindings });
    }
    const results = await this.ports.reconcile(
      entries.map(({ net, ep, bindings }) => ({
        net: portsNetworkOf(net),
        endpointId: ep.id,
        containerIPv4: ep.address,
        containerIPv6: ep.addressIPv6,
        bindings,
      })),
      { networks: nets.map((n) => n.id) },
    );
    this.published.clear();
    const lost: LostPorts[] = [];
    for (const r of results) {
      const entry = entries.find((e) => e.ep.id === r.endpointId);
      if (!entry) continue;
      if (r.error !== undefined) {
        this.log.error('reconcile: published ports of an endpoint could not be restored; the container has none now', {
          networkId: entry.net.id,
          endpointId: r.endpointId,
          err: r.error,
        });
        lost.push({ networkId: entry.net.id, endpointId: r.endpointId, error: r.error });
        continue;
      }
      this.published.add(r.endpointId);
      this.logMappings(entry.net, entry.ep, r.bindings ?? [], true);
    }
    return lost;
  }

  private async unpublish(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    if (!this.ports) return;
    await this.ports.unpublishPorts(net, ep.id);
    this.published.delete(ep.id);
    const mappings = publishedOf(ep);
    if (mappings.length > 0) {
      this.log.info('ports unpublished', { networkId: net.id, endpointId: ep.id, mappings: mappings.map(describeHost) });
    }
  }

  private logMappings(net: NetworkRecord, ep: EndpointRecord, mappings: PortBinding[], restored: boolean): void {
    for (const m of mappings) {
      const proto = PROTOCOL_NAMES[m.Proto] ?? String(m.Proto);
      this.log.info(restored ? 'published port restored' : 'published port', {
        networkId: net.id,
        endpointId: ep.id,
        ...(ep.sandboxKey ? { sandboxKey: ep.sandboxKey } : {}),
        container: `${hostPort(m.IP, m.Port)}/${proto}`,
        host: describeHost(m),
      });
    }
  }
}

function hostPort(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** "0.0.0.0:8080/tcp" */
function describeHost(m: PortBinding): string {
  return `${hostPort(m.HostIP, m.HostPort)}/${PROTOCOL_NAMES[m.Proto] ?? String(m.Proto)}`;
}

function publishedOf(ep: EndpointRecord): PortBinding[] {
  return ep.datapath.publishedPorts ?? [];
}
