import { isIP } from 'node:net';
import type { EndpointRecord, NetworkRecord, NodePeer } from '../driver/model';
import type { Logger } from '../log';
import type { PortBinding } from '../protocol';
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

/**
 * The port-publishing seam (`docker run -p`): firewall/ports.ts's PortPublisher. publishPorts replaces
 * what the endpoint published before and returns the mappings made (concrete host IP and port);
 * publishing that result again maps the same ports. unpublishPorts is idempotent. reconcile publishes
 * every listed endpoint and drops the published ports of every endpoint not listed.
 */
export interface BridgePorts {
  publishPorts(
    net: NetworkRecord,
    endpointId: string,
    containerIPv4: string | undefined,
    containerIPv6: string | undefined,
    bindings: PortBinding[],
  ): Promise<PortBinding[]>;
  unpublishPorts(net: NetworkRecord, endpointId: string): Promise<void>;
  reconcile(
    entries: {
      net: NetworkRecord;
      endpointId: string;
      containerIPv4?: string;
      containerIPv6?: string;
      bindings: PortBinding[];
    }[],
  ): Promise<{ endpointId: string; bindings?: PortBinding[]; error?: string }[]>;
}

export interface BridgeDataPathOptions {
  log: Logger;
  /** TSNET_INSTANCE: part of every ownership marker, so several tsnet daemons can share a host. */
  instance: string;
  firewall?: BridgeFirewall;
  /** Published ports; without it ProgramExternalConnectivity publishes nothing. */
  ports?: BridgePorts;
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

/**
 * What ProgramExternalConnectivity adds to ep.datapath: the mappings made, with the host port that was
 * chosen for `-P`/ranges. EndpointOperInfo reports it as `tsnet.published-ports`; reconcile republishes
 * exactly these after a restart.
 */
export interface BridgePublishedState {
  publishedPorts: PortBinding[];
}

const PROTOCOL_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

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
  private readonly ports?: BridgePorts;
  /**
   * Endpoints whose ports this process published (Program, or reconcile at start). Revoke and
   * DeleteEndpoint of any other endpoint skip the firewall: Docker revokes, then deletes, and a
   * container without ports should cost no iptables run at all.
   */
  private readonly published = new Set<string>();

  constructor(options: BridgeDataPathOptions) {
    if (!isValidInstance(options.instance)) throw new Error(`invalid tsnet instance name "${options.instance}"`);
    this.log = options.log;
    this.instance = options.instance;
    this.firewall = options.firewall;
    this.ports = options.ports;
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

  async deleteEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    // Normally revoked already (the driver revokes first); this covers a record that missed it.
    if (this.published.has(ep.id)) await this.unpublish(net, ep);
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
   * Publishes the endpoint's ports (`-p`, `-P`): DNAT rules plus a held host socket per mapping (see
   * firewall/ports.ts). Masquerading is part of the network's rules and needs nothing here. Returns
   * { publishedPorts } for ep.datapath, which EndpointOperInfo reports and reconcile restores.
   * Docker sends no Program for --internal networks; should one arrive anyway, nothing is published.
   */
  async programExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<Record<string, unknown>> {
    if (!this.ports) return {};
    if (net.internal) {
      if (ep.portBindings.length > 0) {
        this.log.warn('ports not published: the network is internal', { networkId: net.id, endpointId: ep.id });
      }
      return {};
    }
    // Nothing to publish and nothing published before: leave the firewall alone (container start latency).
    if (ep.portBindings.length === 0 && !this.published.has(ep.id)) return {};
    let mappings: PortBinding[];
    try {
      mappings = await this.ports.publishPorts(net, ep.id, ep.address, ep.addressIPv6, ep.portBindings);
    } catch (err) {
      // The publisher has removed whatever this endpoint had published.
      this.published.delete(ep.id);
      throw err;
    }
    this.published.add(ep.id);
    this.logMappings(net, ep, mappings, false);
    const state: BridgePublishedState = { publishedPorts: mappings };
    return { ...state };
  }

  /** Removes the endpoint's published ports (rules and held sockets); idempotent. */
  async revokeExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    // Also for a stored endpoint this process did not publish (its start-up republish failed): its
    // rules are removed by marker.
    if (this.published.has(ep.id) || (ep.externalConnectivity && (ep.portBindings.length > 0 || publishedOf(ep).length > 0))) {
      await this.unpublish(net, ep);
    }
  }

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
    let hairpin = new Map<number, boolean>();
    try {
      hairpin = new Map((await nl.listBridgePorts()).map((p) => [p.index, p.hairpin]));
    } catch (err) {
      this.log.warn('reconcile: cannot read bridge port options; setting hairpin mode on every endpoint', { err: message(err) });
    }

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
        const result = await this.ensureEndpoint(net, ep, bridge, hairpin);
        this.logRepair(result, 'veth', { networkId: net.id, endpointId: ep.id, link: result.link.name });
      } catch (err) {
        failures.push(`endpoint ${ep.id}: ${message(err)}`);
        this.log.error('reconcile: endpoint not repaired', { networkId: ep.networkId, endpointId: ep.id, err: message(err) });
      }
    }

    try {
      await this.reconcilePorts(ours, eps);
    } catch (err) {
      failures.push(`published ports: ${message(err)}`);
      this.log.error('reconcile: published ports not restored', { err: message(err) });
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
  private async ensureEndpoint(
    net: NetworkRecord,
    ep: EndpointRecord,
    bridge: nl.Link,
    /** Hairpin state of bridge ports by ifindex, when known (reconcile reads it in one dump). */
    hairpin?: Map<number, boolean>,
  ): Promise<Ensured> {
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
      let enslaved = false;
      if (link.masterIndex !== bridge.index) {
        await nl.setMaster(link, bridge);
        repairs.push(`master -> ${bridge.name}`);
        enslaved = true;
      }
      // Hairpin mode, as Docker sets it without its userland proxy: a container reaching its own
      // published port through a host address is DNAT'd back out of the port it came in on.
      if (created || enslaved || hairpin?.get(link.index) !== true) {
        await nl.setHairpin(link);
        if (!created && !enslaved && hairpin !== undefined) repairs.push('hairpin on');
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
  // Published ports

  private async unpublish(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    if (!this.ports) return;
    await this.ports.unpublishPorts(net, ep.id);
    this.published.delete(ep.id);
    const mappings = publishedOf(ep);
    if (mappings.length > 0) {
      this.log.info('ports unpublished', { networkId: net.id, endpointId: ep.id, mappings: mappings.map(describeHost) });
    }
  }

  /**
   * Republishes the ports of every endpoint with external connectivity, from the mappings stored at
   * Program (so `-P` and range ports come back as the same host ports), and drops published ports of
   * endpoints that are gone. A port that cannot be taken back (a host service took it meanwhile) is
   * logged as an error and does not fail the reconcile: one lost port must not keep tsnet from
   * starting. Only a failure of the firewall itself throws.
   */
  private async reconcilePorts(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void> {
    if (!this.ports) return;
    const byId = new Map(nets.map((n) => [n.id, n]));
    const entries = [];
    for (const ep of eps) {
      const net = byId.get(ep.networkId);
      if (!net || net.internal || !ep.externalConnectivity) continue;
      const stored = publishedOf(ep);
      // Stored mappings when Program recorded them (same host ports); else what Docker asked for.
      const bindings = hasPublished(ep) ? stored : ep.portBindings;
      if (bindings.length === 0) continue;
      entries.push({ net, ep, bindings });
    }
    const results = await this.ports.reconcile(
      entries.map(({ net, ep, bindings }) => ({
        net,
        endpointId: ep.id,
        containerIPv4: ep.address,
        containerIPv6: ep.addressIPv6,
        bindings,
      })),
    );
    this.published.clear();
    for (const r of results) {
      const entry = entries.find((e) => e.ep.id === r.endpointId);
      if (!entry) continue;
      if (r.error !== undefined) {
        this.log.error('reconcile: published ports of an endpoint could not be restored; the container has none now', {
          networkId: entry.net.id,
          endpointId: r.endpointId,
          err: r.error,
        });
        continue;
      }
      this.published.add(r.endpointId);
      this.logMappings(entry.net, entry.ep, r.bindings ?? [], true);
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

function hostPort(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** "0.0.0.0:8080/tcp" */
function describeHost(m: PortBinding): string {
  return `${hostPort(m.HostIP, m.HostPort)}/${PROTOCOL_NAMES[m.Proto] ?? String(m.Proto)}`;
}

function hasPublished(ep: EndpointRecord): boolean {
  return Array.isArray(ep.datapath?.publishedPorts);
}

function publishedOf(ep: EndpointRecord): PortBinding[] {
  const stored = ep.datapath?.publishedPorts;
  return Array.isArray(stored) ? (stored as PortBinding[]) : [];
}

function normalCidr(cidr: string): string {
  const { ip, prefixLen } = nl.parseCidr(cidr);
  return nl.formatCidr(ip, prefixLen);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
