import type { BridgedEndpointState, BridgeNetworkState, EndpointRecord, NetworkRecord, NodePeer, PublishedPortsState } from '../../model/records';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { ensureBridge, ensureContainerEnd, ensureVeth, gatewaysOf, vethNamesOf, type VethSpec, deleteUnmarkedLeftovers, reconcileEndpointVeths } from '../shared/bridge-links';
import { DataPathError, type DataPath, type JoinResult } from '../datapath';
import { optionalMacOf } from '../shared/endpoint-mac';
import { EndpointPorts, type BridgePorts } from '../shared/endpoint-ports';
import { logRepair, type EnsuredLink } from '../shared/ensured-link';
import { LinkOwnership } from '../shared/link-ownership';
import { bridgeName, isValidIfname, isValidInstance } from '../shared/names';
import { describe } from '../../model/errors';
import { DEFAULT_MTU, mtuOption } from '../shared/mtu';
import type { FirewallNetwork } from '../../firewall/network';
import { firewallNetworkOf } from '../shared/firewall-network';
import { warnIfNoIPv6Forwarding } from '../shared/ipv6-forwarding';

export { BRIDGE_MAX_PORTS } from '../shared/bridge-links';
export type { BridgePorts } from '../shared/endpoint-ports';

/**
 * The firewall seam of the bridge data path (iptables/ip6tables rules for ICC, masquerade, published
 * ports). Both calls must be idempotent. Without a firewall the bridge gets no rules at all.
 */
export interface BridgeFirewall {
  addNetwork(net: FirewallNetwork): Promise<void>;
  removeNetwork(net: FirewallNetwork): Promise<void>;
}

export interface BridgeDataPathOptions {
  log: Logger;
  /** TSNET_INSTANCE: part of every ownership marker, so several tsnet daemons can share a host. */
  instance: string;
  firewall?: BridgeFirewall;
  /** Published ports; without it ProgramExternalConnectivity publishes nothing. */
  ports?: BridgePorts;
}

export type BridgeEndpointState = BridgedEndpointState;

/**
 * Single-host networks on a Linux bridge: one bridge per network holding the gateway address(es),
 * one veth pair per endpoint (host end enslaved to the bridge, container end handed to Docker).
 *
 * Every link tsnet creates carries an ownership marker in its alias (link-ownership.ts); a link
 * without our marker is never adopted, changed or deleted. Creation is create-or-verify
 * (bridge-links.ts): an existing link with our marker is converged (MTU, addresses, master, up)
 * rather than recreated.
 */
export class BridgeDataPath implements DataPath<BridgeNetworkState, BridgeEndpointState> {
  readonly type = 'bridge' as const;
  private readonly log: Logger;
  private readonly firewall?: BridgeFirewall;
  private readonly owner: LinkOwnership;
  private readonly ports: EndpointPorts;

  constructor(options: BridgeDataPathOptions) {
    if (!isValidInstance(options.instance)) throw new Error(`invalid tsnet instance name "${options.instance}"`);
    this.log = options.log;
    this.firewall = options.firewall;
    this.owner = new LinkOwnership({ log: options.log, instance: options.instance, type: this.type });
    this.ports = new EndpointPorts(options.ports, options.log);
  }

  // ---------------------------------------------------------------------------------------------
  // Networks

  async createNetwork(net: NetworkRecord): Promise<BridgeNetworkState> {
    const name = this.bridgeNameOf(net);
    const { created } = await this.ensureBridge(net, name);
    try {
      await this.firewall?.addNetwork(firewallNetworkOf(net, name));
    } catch (err) {
      if (created) {
        await this.firewall?.removeNetwork(firewallNetworkOf(net, name)).catch((e) => this.logCleanupFailure('firewall rules', name, e));
        await this.owner.deleteCreated(name);
      }
      throw err;
    }
    warnIfNoIPv6Forwarding(net, this.log);
    const state: BridgeNetworkState = { bridgeName: name };
    return { ...state };
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    const name = this.storedBridgeName(net);
    if (!name || !isValidIfname(name)) return; // createNetwork refused it: nothing was made
    await this.firewall?.removeNetwork(firewallNetworkOf(net, name));
    await this.owner.deleteIfOurs(name, this.owner.netMarker(net.id), 'bridge not deleted: it is not marked as this network\'s', {
      networkId: net.id,
      bridge: name,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoints

  async createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<BridgeEndpointState> {
    const bridge = await this.bridgeFor(net);
    await this.ensureEndpoint(net, ep, bridge);
    return { ...vethNamesOf(ep) };
  }

  async deleteEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.ports.release(net, ep);
    const { hostIfname } = vethNamesOf(ep);
    // Deleting one end of a veth pair deletes the other, wherever it is.
    await this.owner.deleteIfOurs(hostIfname, this.owner.epMarker(ep.id), 'veth not deleted: it is not marked as this endpoint\'s', {
      endpointId: ep.id,
      link: hostIfname,
    });
  }

  async join(net: NetworkRecord, ep: EndpointRecord, _sandboxKey: string): Promise<JoinResult> {
    const remake = async () => this.ensureEndpoint(net, ep, await this.bridgeFor(net));
    return { srcName: await ensureContainerEnd(this.owner, this.log, net, ep, remake) };
  }

  /** Nothing to do: Docker moves the container end back to the host namespace after Leave. */
  async leave(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}

  /**
   * Publishes the endpoint's ports (`-p`, `-P`): DNAT rules plus a held host socket per mapping (see
   * firewall/ports.ts). Masquerading is part of the network's rules and needs nothing here. Returns
   * { publishedPorts } for ep.datapath, which EndpointOperInfo reports and reconcile restores.
   */
  async programExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<Partial<PublishedPortsState>> {
    return this.ports.program(net, ep);
  }

  /** Removes the endpoint's published ports (rules and held sockets); idempotent. */
  async revokeExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.ports.revoke(net, ep);
  }

  /** A bridge network is single-host: peers do not matter. */
  async discoverNew(_peer: NodePeer): Promise<void> {}

  async discoverDelete(_peer: NodePeer): Promise<void> {}

  // ---------------------------------------------------------------------------------------------
  // Reconcile

  /**
   * Converges the kernel to the stored bridge networks and endpoints: every bridge exists with its
   * MTU, gateway addresses and up; every endpoint's veth that exists is on its bridge and up (a missing
   * one is left to the leak collector if the endpoint was joined, else to its Join); the published ports
   * of its endpoints are restored; links carrying this instance's bridge markers that no stored record
   * refers to are deleted. Keeps going past failures and throws one error listing them at the end.
   */
  async reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void> {
    const ours = nets.filter((n) => n.type === this.type);
    const failures: string[] = [];
    const bridges = new Map<string, nl.Link>();

    for (const net of ours) {
      try {
        const name = this.bridgeNameOf(net);
        const result = await this.ensureBridge(net, name);
        logRepair(this.log, result, 'bridge', { networkId: net.id, bridge: name });
        await this.firewall?.addNetwork(firewallNetworkOf(net, name));
        bridges.set(net.id, result.link);
      } catch (err) {
        failures.push(`network ${net.id}: ${describe(err)}`);
        this.log.error('reconcile: network not repaired', { networkId: net.id, err: describe(err) });
      }
    }

    const ready = new Map(ours.filter((n) => bridges.has(n.id)).map((n) => [n.id, n]));
    const links = await reconcileEndpointVeths(this.log, eps, ready, (net, ep, known) => this.ensureEndpoint(net, ep, bridges.get(net.id)!, known), failures);

    try {
      // An endpoint whose ports cannot be taken back is logged there, not a failure: one lost port
      // must not keep tsnet from starting.
      await this.ports.reconcile(ours, eps);
    } catch (err) {
      failures.push(`published ports: ${describe(err)}`);
      this.log.error('reconcile: published ports not restored', { err: describe(err) });
    }

    failures.push(...(await this.owner.pruneOrphans({ net: new Set(ours.map((n) => n.id)), ep: new Set(eps.map((e) => e.id)) }, undefined, links)));
    failures.push(...(await deleteUnmarkedLeftovers(this.log, eps, new Set([...bridges.values()].map((b) => b.index)), links)));

    if (failures.length > 0) {
      throw new Error(`bridge reconcile left ${failures.length} problem(s): ${failures.join('; ')}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Create-or-verify

  /** The network's bridge: marked, with its MTU and gateway addresses, up (bridge-links.ts). */
  private ensureBridge(net: NetworkRecord, name: string): Promise<EnsuredLink> {
    return ensureBridge(this.owner, { name, marker: this.owner.netMarker(net.id), mtu: mtuOption(net, 'a bridge'), gateways: gatewaysOf(net) });
  }

  /** The endpoint's veth pair on the bridge, with the network MTU and the endpoint's MAC (bridge-links.ts). */
  private ensureEndpoint(
    net: NetworkRecord,
    ep: EndpointRecord,
    bridge: nl.Link,
    /** What reconcile already read in one dump each (see VethSpec). */
    known: Pick<VethSpec, 'hairpin' | 'links'> = {},
  ): Promise<EnsuredLink> {
    const names = vethNamesOf(ep);
    const mtu = mtuOption(net, 'a bridge') ?? DEFAULT_MTU;
    const mac = optionalMacOf(ep);
    return ensureVeth(this.owner, { ...names, marker: this.owner.epMarker(ep.id), mtu, mac, bridge, networkId: net.id, ...known });
  }

  /** The network's bridge, recreated (and logged) if it has gone missing. */
  private async bridgeFor(net: NetworkRecord): Promise<nl.Link> {
    const name = this.bridgeNameOf(net);
    const link = await nl.findLink(name);
    if (link) {
      this.owner.check(link, this.owner.netMarker(net.id), 'bridge');
      return link;
    }
    this.log.warn('bridge missing; recreating it', { networkId: net.id, bridge: name });
    const result = await this.ensureBridge(net, name);
    await this.firewall?.addNetwork(firewallNetworkOf(net, name));
    return result.link;
  }

  // ---------------------------------------------------------------------------------------------
  // Names, options

  /** The bridge name: as stored at creation, else the -o bridge name option, else derived from the ID. */
  private bridgeNameOf(net: NetworkRecord): string {
    const name = this.storedBridgeName(net);
    if (!name || !isValidIfname(name)) {
      throw new DataPathError(`invalid bridge name "${name}": 1-15 characters, no '/', ':' or spaces`);
    }
    return name;
  }

  private storedBridgeName(net: NetworkRecord): string | undefined {
    if (net.datapath.bridgeName) return net.datapath.bridgeName;
    const option = 'bridgeName' in net.options ? net.options.bridgeName : undefined;
    return option || bridgeName(net.id);
  }


  private logCleanupFailure(what: string, name: string, err: unknown): void {
    this.log.error(`clean-up after a failed call: ${what} not removed`, { link: name, err: describe(err) });
  }
}

