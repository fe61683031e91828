import type { EndpointRecord, NetworkRecord, NodePeer } from '../driver/model';
import type { Logger } from '../log';
import { MAC_PATTERN } from '../net/address';
import * as nl from '../netlink';
import { DataPathError, type DataPath, type JoinResult } from './datapath';
import { isMulticastMac, randomMac } from './mac';
import {
  bridgeName,
  containerVethName,
  hostVethName,
  isValidIfname,
  isValidInstance,
  ownerMarker,
  parseOwnerMarker,
} from './names';

/**
 * The firewall seam of the bridge data path (iptables/ip6tables rules for ICC, masquerade, published
 * ports). Both calls must be idempotent. Without a firewall the bridge gets no rules at all.
 */
export interface BridgeFirewall {
  addNetwork(net: NetworkRecord, bridge: string): Promise<void>;
  removeNetwork(net: NetworkRecord, bridge: string): Promise<void>;
}

export interface BridgeDataPathOptions {
  log: Logger;
  /** TSNET_INSTANCE: part of every ownership marker, so several tsnet daemons can share a host. */
  instance: string;
  firewall?: BridgeFirewall;
}

/** What net.datapath holds for a bridge network. */
export interface BridgeNetworkState {
  bridgeName: string;
}

/** What ep.datapath holds for a bridge endpoint. */
export interface BridgeEndpointState {
  hostIfname: string;
  containerIfname: string;
}

export const DEFAULT_MTU = 1500;
const MIN_MTU = 68;
const MAX_MTU = 65535;
/** Port numbers run 1..BR_MAX_PORTS-1 (1024 - 1): the kernel refuses the 1024th port with EXFULL. */
export const BRIDGE_MAX_PORTS = 1023;

interface Ensured {
  link: nl.Link;
  created: boolean;
  /** What had to be changed on an existing link (empty when it was already right or was created). */
  repairs: string[];
}

/**
 * Single-host networks on a Linux bridge: one bridge per network holding the gateway address(es),
 * one veth pair per endpoint (host end enslaved to the bridge, container end handed to Docker).
 *
 * Every link tsnet creates carries an ownership marker in its alias (names.ts); a link without our
 * marker is never adopted, changed or deleted. Creation is create-or-verify: an existing link with our
 * marker is converged (MTU, addresses, master, up) rather than recreated.
 */
export class BridgeDataPath implements DataPath {
  readonly type = 'bridge' as const;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly firewall?: BridgeFirewall;

  constructor(options: BridgeDataPathOptions) {
    if (!isValidInstance(options.instance)) throw new Error(`invalid tsnet instance name "${options.instance}"`);
    this.log = options.log;
    this.instance = options.instance;
    this.firewall = options.firewall;
  }

  // ---------------------------------------------------------------------------------------------
  // Networks

  async createNetwork(net: NetworkRecord): Promise<Record<string, unknown>> {
    const name = this.bridgeNameOf(net);
    const { created } = await this.ensureBridge(net, name);
    try {
      await this.firewall?.addNetwork(net, name);
    } catch (err) {
      if (created) {
        await this.firewall?.removeNetwork(net, name).catch((e) => this.logCleanupFailure('firewall rules', name, e));
        await this.deleteCreated(name);
      }
      throw err;
    }
    const state: BridgeNetworkState = { bridgeName: name };
    return { ...state };
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    const name = this.storedBridgeName(net);
    if (!name || !isValidIfname(name)) return; // createNetwork refused it: nothing was made
    await this.firewall?.removeNetwork(net, name);
    const link = await nl.findLink(name);
    if (!link) return;
    if (link.alias !== this.netMarker(net.id)) {
      this.log.warn('bridge not deleted: it is not marked as this network\'s', {
        networkId: net.id,
        bridge: name,
        alias: link.alias,
      });
      return;
    }
    await nl.deleteLink(link);
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoints

  async createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<Record<string, unknown>> {
    const bridge = await this.bridgeFor(net);
    await this.ensureEndpoint(net, ep, bridge);
    return { ...this.storedEndpointNames(ep) };
  }

  async deleteEndpoint(_net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    const { hostIfname } = this.storedEndpointNames(ep);
    const link = await nl.findLink(hostIfname);
    if (!link) return;
    if (link.alias !== this.epMarker(ep.id)) {
      this.log.warn('veth not deleted: it is not marked as this endpoint\'s', {
        endpointId: ep.id,
        link: hostIfname,
        alias: link.alias,
      });
      return;
    }
    // Deleting one end of a veth pair deletes the other, wherever it is.
    await nl.deleteLink(link);
  }

  async join(net: NetworkRecord, ep: EndpointRecord, _sandboxKey: string): Promise<JoinResult> {
    const { hostIfname, containerIfname } = this.storedEndpointNames(ep);
    const container = await nl.findLink(containerIfname);
    if (!container) {
      // Gone since CreateEndpoint (a reboot, or a sandbox that took the end with it): make a new pair.
      this.log.warn('container end of the veth pair is missing; recreating the pair', {
        networkId: net.id,
        endpointId: ep.id,
        link: containerIfname,
      });
      const host = await nl.findLink(hostIfname);
      if (host && host.alias === this.epMarker(ep.id)) await nl.deleteLink(host);
      await this.ensureEndpoint(net, ep, await this.bridgeFor(net));
    }
    return { srcName: containerIfname };
  }

  /** Nothing to do: Docker moves the container end back to the host namespace after Leave. */
  async leave(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}

  /**
   * The bridge itself needs nothing for external connectivity: masquerading is part of the network's
   * firewall rules, and published ports (-p) are programmed by the firewall module, which is wired in
   * here when port publishing is added.
   */
  async programExternalConnectivity(_net: NetworkRecord, _ep: EndpointRecord): Promise<Record<string, unknown>> {
    return {};
  }

  /** See programExternalConnectivity. */
  async revokeExternalConnectivity(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}

  /** A bridge network is single-host: peers do not matter. */
  async discoverNew(_peer: NodePeer): Promise<void> {}

  async discoverDelete(_peer: NodePeer): Promise<void> {}

  // ---------------------------------------------------------------------------------------------
  // Reconcile

  /**
   * Converges the kernel to the stored bridge networks and endpoints: every bridge exists with its
   * MTU, gateway addresses and up; every endpoint's veth is on its bridge and up; links carrying this
   * instance's bridge markers that no stored record refers to are deleted. Keeps going past failures
   * and throws one error listing them at the end.
   */
  async reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void> {
    const ours = nets.filter((n) => n.type === this.type);
    const failures: string[] = [];
    const bridges = new Map<string, nl.Link>();

    for (const net of ours) {
      try {
        const name = this.bridgeNameOf(net);
        const result = await this.ensureBridge(net, name);
        this.logRepair(result, 'bridge', { networkId: net.id, bridge: name });
        await this.firewall?.addNetwork(net, name);
        bridges.set(net.id, result.link);
      } catch (err) {
        failures.push(`network ${net.id}: ${message(err)}`);
        this.log.error('reconcile: network not repaired', { networkId: net.id, err: message(err) });
      }
    }

    for (const ep of eps) {
      const net = ours.find((n) => n.id === ep.networkId);
      const bridge = bridges.get(ep.networkId);
      if (!net || !bridge) continue; // not a bridge endpoint, or its network already failed
      try {
        const result = await this.ensureEndpoint(net, ep, bridge);
        this.logRepair(result, 'veth', { networkId: net.id, endpointId: ep.id, link: result.link.name });
      } catch (err) {
        failures.push(`endpoint ${ep.id}: ${message(err)}`);
        this.log.error('reconcile: endpoint not repaired', { networkId: ep.networkId, endpointId: ep.id, err: message(err) });
      }
    }

    const wanted = { net: new Set(ours.map((n) => n.id)), ep: new Set(eps.map((e) => e.id)) };
    const orphans = (await nl.listLinks()).filter((link) => {
      const marker = parseOwnerMarker(link.alias);
      return marker?.instance === this.instance && marker.type === this.type && !wanted[marker.object].has(marker.id);
    });
    // Endpoints first, so no veth is left dangling off a bridge being deleted.
    orphans.sort((a, b) => Number(parseOwnerMarker(a.alias)!.object === 'net') - Number(parseOwnerMarker(b.alias)!.object === 'net'));
    for (const link of orphans) {
      try {
        if (await nl.deleteLink(link)) {
          this.log.info('reconcile: deleted orphan link', { link: link.name, alias: link.alias });
        }
      } catch (err) {
        failures.push(`orphan ${link.name}: ${message(err)}`);
        this.log.error('reconcile: orphan link not deleted', { link: link.name, err: message(err) });
      }
    }

    if (failures.length > 0) {
      throw new Error(`bridge reconcile left ${failures.length} problem(s): ${failures.join('; ')}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Create-or-verify

  /**
   * Makes the network's bridge exist, marked, with its MTU and gateway addresses, and up. A bridge
   * this call creates is deleted again if a later step fails.
   */
  private async ensureBridge(net: NetworkRecord, name: string): Promise<Ensured> {
    const mtu = this.mtuOf(net);
    const gateways = this.gatewaysOf(net);
    const marker = this.netMarker(net.id);

    let link = await nl.findLink(name);
    let created = false;
    if (link) {
      this.checkOwnership(link, marker, 'bridge');
    } else {
      try {
        // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes with them.
        link = await nl.createLink({ kind: 'bridge', name, mtu, mac: randomMac() });
      } catch (err) {
        if (nl.hasCode(err, 'EEXIST')) throw this.foreign(name);
        throw err;
      }
      created = true;
    }

    const repairs: string[] = [];
    try {
      if (link.alias !== marker) await nl.setAlias(link, marker);
      if (mtu !== undefined && link.mtu !== mtu) {
        await nl.setMtu(link, mtu);
        repairs.push(`mtu ${link.mtu} -> ${mtu}`);
      }
      const present = new Set((await nl.listAddresses({ link: link.index })).map((a) => normalCidr(a.cidr)));
      for (const gateway of gateways) {
        if (present.has(normalCidr(gateway))) continue;
        // No DAD for the gateway: the address is tsnet's, and a bridge without ports would keep it tentative.
        await nl.addAddress(link, gateway, { nodad: nl.parseCidr(gateway).family === 6 });
        repairs.push(`added gateway ${gateway}`);
      }
      if (!link.up) {
        await nl.setLinkUp(link);
        repairs.push('set up');
      }
    } catch (err) {
      if (created) await this.deleteCreated(name);
      throw err;
    }
    return { link, created, repairs: created ? [] : repairs };
  }

  /**
   * Makes the endpoint's veth pair exist: host end marked, on the bridge, with the network MTU and
   * up; container end with the MTU and the endpoint's MAC. A pair this call creates is deleted again
   * if a later step fails.
   */
  private async ensureEndpoint(net: NetworkRecord, ep: EndpointRecord, bridge: nl.Link): Promise<Ensured> {
    const { hostIfname, containerIfname } = this.storedEndpointNames(ep);
    const mtu = this.mtuOf(net) ?? DEFAULT_MTU;
    const mac = this.macOf(ep);
    const marker = this.epMarker(ep.id);

    let link = await nl.findLink(hostIfname);
    let created = false;
    if (link) {
      this.checkOwnership(link, marker, 'veth');
    } else {
      try {
        link = await nl.createLink({
          kind: 'veth',
          name: hostIfname,
          mtu,
          masterIndex: bridge.index,
          peer: { name: containerIfname, mtu, mac },
        });
      } catch (err) {
        if (nl.hasCode(err, 'EEXIST')) {
          const clash = (await nl.findLink(containerIfname)) ? containerIfname : hostIfname;
          throw this.foreign(clash);
        }
        if (nl.hasCode(err, 'EXFULL')) {
          throw new DataPathError(
            `bridge ${bridge.name} already has ${BRIDGE_MAX_PORTS} ports, the kernel's limit: ` +
              `network ${net.id} cannot take another endpoint on this host`,
          );
        }
        throw err;
      }
      created = true;
    }

    const repairs: string[] = [];
    try {
      if (link.alias !== marker) await nl.setAlias(link, marker);
      if (link.masterIndex !== bridge.index) {
        await nl.setMaster(link, bridge);
        repairs.push(`master -> ${bridge.name}`);
      }
      if (link.mtu !== mtu) {
        await nl.setMtu(link, mtu);
        repairs.push(`mtu ${link.mtu} -> ${mtu}`);
      }
      if (!link.up) {
        await nl.setLinkUp(link);
        repairs.push('set up');
      }
    } catch (err) {
      if (created) await this.deleteCreated(hostIfname);
      throw err;
    }
    return { link, created, repairs: created ? [] : repairs };
  }

  /** The network's bridge, recreated (and logged) if it has gone missing. */
  private async bridgeFor(net: NetworkRecord): Promise<nl.Link> {
    const name = this.bridgeNameOf(net);
    const link = await nl.findLink(name);
    if (link) {
      this.checkOwnership(link, this.netMarker(net.id), 'bridge');
      return link;
    }
    this.log.warn('bridge missing; recreating it', { networkId: net.id, bridge: name });
    const result = await this.ensureBridge(net, name);
    await this.firewall?.addNetwork(net, name);
    return result.link;
  }

  // ---------------------------------------------------------------------------------------------
  // Names, markers, options

  private netMarker(networkId: string): string {
    return ownerMarker({ instance: this.instance, type: this.type, object: 'net', id: networkId });
  }

  private epMarker(endpointId: string): string {
    return ownerMarker({ instance: this.instance, type: this.type, object: 'ep', id: endpointId });
  }

  /** The bridge name: as stored at creation, else the -o bridge name option, else derived from the ID. */
  private bridgeNameOf(net: NetworkRecord): string {
    const name = this.storedBridgeName(net);
    if (!name || !isValidIfname(name)) {
      throw new DataPathError(`invalid bridge name "${name}": 1-15 characters, no '/', ':' or spaces`);
    }
    return name;
  }

  private storedBridgeName(net: NetworkRecord): string | undefined {
    const stored = net.datapath?.bridgeName;
    if (typeof stored === 'string' && stored !== '') return stored;
    const option = 'bridgeName' in net.options ? net.options.bridgeName : undefined;
    return option || bridgeName(net.id);
  }

  private endpointNames(ep: EndpointRecord): BridgeEndpointState {
    return { hostIfname: hostVethName(ep.id), containerIfname: containerVethName(ep.id) };
  }

  private storedEndpointNames(ep: EndpointRecord): BridgeEndpointState {
    const derived = this.endpointNames(ep);
    const host = ep.datapath?.hostIfname;
    const container = ep.datapath?.containerIfname;
    const names = {
      hostIfname: typeof host === 'string' && host !== '' ? host : derived.hostIfname,
      containerIfname: typeof container === 'string' && container !== '' ? container : derived.containerIfname,
    };
    for (const name of [names.hostIfname, names.containerIfname]) {
      if (!isValidIfname(name)) throw new DataPathError(`endpoint ID "${ep.id}" gives an invalid interface name "${name}"`);
    }
    return names;
  }

  private mtuOf(net: NetworkRecord): number | undefined {
    const mtu = net.options.mtu;
    if (mtu === undefined) return undefined;
    if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
      throw new DataPathError(`invalid MTU ${mtu}: a bridge takes ${MIN_MTU}-${MAX_MTU}`);
    }
    return mtu;
  }

  private macOf(ep: EndpointRecord): string | undefined {
    if (!ep.macAddress) return undefined;
    if (!MAC_PATTERN.test(ep.macAddress) || isMulticastMac(ep.macAddress)) {
      throw new DataPathError(`invalid MAC address "${ep.macAddress}" for endpoint ${ep.id}: need a unicast MAC`);
    }
    return ep.macAddress.toLowerCase();
  }

  /** Gateway "ip/len" of every IPv4 and IPv6 pool that has one. */
  private gatewaysOf(net: NetworkRecord): string[] {
    const gateways = [...net.ipv4, ...net.ipv6].map((pool) => pool.gateway).filter((g): g is string => !!g);
    for (const gateway of gateways) {
      try {
        nl.parseCidr(gateway);
      } catch {
        throw new DataPathError(`invalid gateway "${gateway}" for network ${net.id}: need "ip/len"`);
      }
    }
    return gateways;
  }

  // ---------------------------------------------------------------------------------------------
  // Ownership and clean-up

  private checkOwnership(link: nl.Link, marker: string, kind: string): void {
    if (link.alias === marker && link.kind === kind) return;
    const owner = parseOwnerMarker(link.alias);
    if (owner && link.alias !== marker) {
      throw new DataPathError(
        `interface ${link.name} already exists and belongs to tsnet ${owner.type} ${owner.object === 'net' ? 'network' : 'endpoint'} ` +
          `${owner.id} (instance ${owner.instance})`,
      );
    }
    if (link.alias === marker) {
      throw new DataPathError(`interface ${link.name} is marked as tsnet's but is a ${link.kind ?? 'device'}, not a ${kind}`);
    }
    throw this.foreign(link.name);
  }

  private foreign(name: string): DataPathError {
    return new DataPathError(`interface ${name} already exists and is not managed by tsnet`);
  }

  /** Undo of a link this call created; a failure here is logged, the original error is what counts. */
  private async deleteCreated(name: string): Promise<void> {
    try {
      await nl.deleteLink(name);
    } catch (err) {
      this.logCleanupFailure('link', name, err);
    }
  }

  private logCleanupFailure(what: string, name: string, err: unknown): void {
    this.log.error(`clean-up after a failed call: ${what} not removed`, { link: name, err: message(err) });
  }

  private logRepair(result: Ensured, what: string, fields: Record<string, unknown>): void {
    if (result.created) this.log.info(`reconcile: recreated missing ${what}`, fields);
    else if (result.repairs.length > 0) this.log.info(`reconcile: repaired ${what}`, { ...fields, repairs: result.repairs });
  }
}

function normalCidr(cidr: string): string {
  const { ip, prefixLen } = nl.parseCidr(cidr);
  return nl.formatCidr(ip, prefixLen);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
