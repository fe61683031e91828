import { createCIDR } from 'ip6addr';
import type { DataPath } from '../datapath/datapath';
import { DataPathError } from '../datapath/datapath';
import type { Logger } from '../log';
import { cidrAddress, isIPv4, macFromBase64 } from '../net/address';
import { macFromIPv4, randomMac } from '../net/mac';
import {
  OPTION_ENABLE_IPV6,
  OPTION_ENDPOINT_IFNAME,
  OPTION_ENDPOINT_MAC,
  OPTION_EXPOSED_PORTS,
  OPTION_GENERIC,
  OPTION_INTERNAL,
  OPTION_PORTMAP,
  describeIssues,
  exposedPorts,
  portBindings,
  type AllocateNetworkRequest,
  type CreateEndpointRequest,
  type CreateNetworkRequest,
  type DiscoveryRequest,
  type EndpointIdRequest,
  type IPAMData,
  type JoinRequest,
  type JoinResponse,
} from '../protocol';
import type { Store } from '../store/store';
import { BadRequestError, ConflictError, describe as describeError, NotFoundError, UnavailableError } from '../model/errors';
import {
  ALLOCATION_PREFIX,
  allocationKey as allocKey,
  ENDPOINT_PREFIX,
  endpointKey as epKey,
  endpointPrefix as epPrefix,
  NETWORK_PREFIX,
  networkKey as netKey,
  PEER_PREFIX,
  peerKey,
} from '../model/keys';
import { KeyedMutex } from './keyed-mutex';
import type { EndpointRecord, IpamConfig, NetworkRecord, NetworkType, NodePeer } from '../model/records';
import { parseNetworkOptions } from '../model/options';
import { allocateVni, releaseVni, type VniRange } from './vni';
import { parseCidr } from '../ipam/address';
import { specialRangeOf } from '../ipam/special-ranges';

/**
 * Swarm nodes kept at most (DiscoverNew). Each is a store record and, in the VXLAN data path, flood
 * entries and a grace timer when it leaves: a caller inventing addresses must not grow them without
 * bound. Far above any Swarm Docker supports.
 */
export const MAX_PEERS = 10_000;

export interface DriverSettings {
  scope: 'local' | 'global';
  vniRange?: VniRange;
  /** Swarm nodes kept at most (default MAX_PEERS; tests lower it). */
  maxPeers?: number;
  /**
   * Told this node's own Swarm identity: at each DiscoverNew Self, and at reconcile for the stored one
   * (Docker does not replay it to a restarted plugin). Rejections are logged, never answered.
   */
  onSelf?: (self: NodePeer) => Promise<void>;
}


/**
 * The NetworkDriver half of the protocol: lifecycle rules, idempotency, persistence and per-network
 * serialisation. Kernel work is delegated to the data path of the network's type.
 *
 * Ordering for crash consistency: creates do the kernel work first and commit after (a crash leaves
 * an unreferenced, marked kernel object that reconcile removes); deletes commit first and then remove
 * kernel objects (same outcome). Docker is answered only after the commit.
 */
export class NetworkDriver {
  private readonly locks = new KeyedMutex();
  /** Work queued after answering (see afterwards()). */
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly datapaths: Map<NetworkType, DataPath>,
    private readonly log: Logger,
    private readonly settings: DriverSettings,
  ) {}

  getCapabilities(): { Scope: string; ConnectivityScope: string } {
    return { Scope: this.settings.scope, ConnectivityScope: this.settings.scope };
  }

  network(id: string): NetworkRecord | undefined {
    return this.store.get<NetworkRecord>(netKey(id));
  }

  networks(): NetworkRecord[] {
    return this.store.range<NetworkRecord>(NETWORK_PREFIX).map(([, net]) => net);
  }

  endpoints(networkId?: string): EndpointRecord[] {
    return this.store.range<EndpointRecord>(networkId ? epPrefix(networkId) : ENDPOINT_PREFIX).map(([, ep]) => ep);
  }

  /** How many networks are stored (keys counted, no record read). */
  networkCount(): number {
    return this.store.count(NETWORK_PREFIX);
  }

  /** How many endpoints are stored (keys counted, no record read). */
  endpointCount(): number {
    return this.store.count(ENDPOINT_PREFIX);
  }

  private get maxPeers(): number {
    return this.settings.maxPeers ?? MAX_PEERS;
  }

  peers(): NodePeer[] {
    return this.store.range<NodePeer>(PEER_PREFIX).map(([, peer]) => peer);
  }

  async createNetwork(req: CreateNetworkRequest): Promise<Record<string, never>> {
    const wanted = this.networkFromRequest(req);
    return this.locks.run(req.NetworkID, async () => {
      const existing = this.network(req.NetworkID);
      if (existing) {
        if (sameNetworkSettings(existing, wanted)) {
          this.log.info('CreateNetwork repeated with identical settings', { networkId: req.NetworkID });
          return {};
        }
        throw new ConflictError(`network ${req.NetworkID} already exists with different settings`);
      }
      this.checkNameClash(wanted);
      const datapath = this.datapathFor(wanted.type);
      wanted.datapath = await datapath.createNetwork(wanted);
      try {
        this.store.transact((tx) => tx.put(netKey(wanted.id), wanted));
      } catch (err) {
        await datapath.deleteNetwork(wanted).catch(() => undefined);
        throw err;
      }
      this.log.info('network created', { networkId: wanted.id, type: wanted.type, datapath: wanted.datapath });
      return {};
    });
  }

  async deleteNetwork(networkId: string): Promise<Record<string, never>> {
    return this.locks.run(networkId, async () => {
      const net = this.network(networkId);
      if (!net) {
        this.log.info('DeleteNetwork for an unknown network: nothing to do', { networkId });
        return {};
      }
      const eps = this.endpoints(networkId);
      this.store.transact((tx) => {
        for (const ep of eps) tx.del(epKey(networkId, ep.id));
        tx.del(netKey(networkId));
      });
      const datapath = this.datapathFor(net.type);
      for (const ep of eps) {
        await datapath.deleteEndpoint(net, ep).catch((err) => this.log.warn('stale endpoint removal failed', { endpointId: ep.id, err: String(err) }));
      }
      await datapath.deleteNetwork(net);
      this.log.info('network deleted', { networkId, endpointsRemoved: eps.length });
      return {};
    });
  }

  /** Swarm manager: validate the user's options and hand them back as the network's driver state. */
  async allocateNetwork(req: AllocateNetworkRequest): Promise<{ Options: Record<string, string> }> {
    const options = req.Options ?? {};
    return this.locks.run(req.NetworkID, async () => {
      const previous = this.store.get<{ options: Record<string, string> }>(allocKey(req.NetworkID));
      parseNetworkOptions(options);
      const result = this.store.transact((tx) => {
        const allocated = allocateVni(tx, req.NetworkID, { ...options, ...(previous?.options ?? {}) }, this.settings.vniRange);
        tx.put(allocKey(req.NetworkID), { options: allocated });
        return allocated;
      });
      return { Options: result };
    });
  }

  /** Swarm manager: the networks AllocateNetwork gave tsnet (any type), until FreeNetwork. */
  allocatedNetworkIds(): string[] {
    return this.store.range(ALLOCATION_PREFIX).map(([key]) => key.slice(ALLOCATION_PREFIX.length));
  }

  async freeNetwork(networkId: string): Promise<Record<string, never>> {
    return this.locks.run(networkId, async () => {
      if (!this.store.get(allocKey(networkId))) {
        this.log.info('FreeNetwork for an unknown allocation: nothing to do', { networkId });
        return {};
      }
      this.store.transact((tx) => {
        tx.del(allocKey(networkId));
        releaseVni(tx, networkId);
      });
      return {};
    });
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<{ Interface: { MacAddress?: string } }> {
    return this.locks.run(req.NetworkID, async () => {
      const net = this.requireNetwork(req.NetworkID);
      const wanted = endpointFromRequest(net, req);
      const existing = this.store.get<EndpointRecord>(epKey(net.id, req.EndpointID));
      if (existing) {
        if (sameEndpointSettings(existing, wanted)) return endpointReply(existing);
        throw new ConflictError(`endpoint ${req.EndpointID} already exists with different settings`);
      }
      const datapath = this.datapathFor(net.type);
      wanted.datapath = await datapath.createEndpoint(net, wanted);
      try {
        this.store.transact((tx) => tx.put(epKey(net.id, wanted.id), wanted));
      } catch (err) {
        await datapath.deleteEndpoint(net, wanted).catch(() => undefined);
        throw err;
      }
      this.log.info('endpoint created', { networkId: net.id, endpointId: wanted.id, address: wanted.address, mac: wanted.macAddress });
      const ifname = req.Options?.[OPTION_ENDPOINT_IFNAME];
      if (ifname !== undefined) {
        // Accepted as Docker's own drivers accept it; the name is Docker's to give, and for a network
        // plugin's endpoint Docker gives eth<n> (DstPrefix) whatever was asked.
        this.log.info('endpoint option not applied: Docker names a network plugin\'s interfaces itself', {
          networkId: net.id,
          endpointId: wanted.id,
          option: OPTION_ENDPOINT_IFNAME,
          value: ifname,
        });
      }
      return endpointReply(wanted);
    });
  }

  endpointOperInfo(req: EndpointIdRequest): { Value: Record<string, unknown> } {
    const ep = this.store.get<EndpointRecord>(epKey(req.NetworkID, req.EndpointID));
    if (!ep) return { Value: {} };
    const published = ep.datapath.publishedPorts;
    return { Value: published ? { 'tsnet.published-ports': published } : {} };
  }

  /**
   * Commits the endpoint's removal and releases its published ports, then answers; the endpoint's links
   * (its veth or macvlan) are deleted right after, queued behind this call on the network's lock. Deleting
   * a link costs the kernel about 20 ms (an RCU grace period under RTNL, measured here), all of it on the
   * critical path of every `docker run --rm` and `docker rm`, and nothing Docker does next depends on it:
   * any later call on the same network (DeleteNetwork, a create) runs after the deletion, and a crash in
   * between leaves a marked link without a record, which reconcile removes as for any delete (commit
   * first). `waitForLinks` (the leak collector) also waits for the links, and throws if that fails.
   */
  async deleteEndpoint(req: EndpointIdRequest, opts: { waitForLinks?: boolean } = {}): Promise<Record<string, never>> {
    let links: Promise<void> | undefined;
    const reply = await this.locks.run(req.NetworkID, async () => {
      const net = this.network(req.NetworkID);
      const ep = this.store.get<EndpointRecord>(epKey(req.NetworkID, req.EndpointID));
      if (!net || !ep) {
        this.log.info('DeleteEndpoint for an unknown endpoint: nothing to do', { networkId: req.NetworkID, endpointId: req.EndpointID });
        return {};
      }
      this.store.transact((tx) => tx.del(epKey(net.id, ep.id)));
      const datapath = this.datapathFor(net.type);
      if (ep.externalConnectivity) await datapath.revokeExternalConnectivity(net, ep);
      links = this.afterwards(net.id, () => datapath.deleteEndpoint(net, ep), {
        done: () => this.log.info('endpoint deleted', { networkId: net.id, endpointId: ep.id }),
        failed: (err) =>
          this.log.error('endpoint deleted, but not its links: the leak collector or the next start removes them', {
            networkId: net.id,
            endpointId: ep.id,
            err: describeError(err),
          }),
      });
      return {};
    });
    if (opts.waitForLinks && links) await links;
    return reply;
  }

  /**
   * Work queued on a network's lock behind the current call, which does not wait for it; settle() does.
   * The returned promise rejects as the work does (for a caller that waits); `failed` has logged it anyway.
   */
  private afterwards(networkId: string, work: () => Promise<void>, report: { done: () => void; failed: (err: unknown) => void }): Promise<void> {
    const queued = this.locks.run(networkId, work);
    const reported = queued.then(report.done, report.failed);
    this.background.add(reported);
    void reported.finally(() => this.background.delete(reported));
    return queued;
  }

  /** Waits for the work calls queued after answering (link deletions); for shutdown and tests. */
  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    return this.locks.run(req.NetworkID, async () => {
      const net = this.requireNetwork(req.NetworkID);
      const ep = this.requireEndpoint(net.id, req.EndpointID);
      const { srcName } = await this.datapathFor(net.type).join(net, ep, req.SandboxKey);
      if (ep.sandboxKey !== req.SandboxKey) {
        this.store.transact((tx) => tx.put(epKey(net.id, ep.id), { ...ep, sandboxKey: req.SandboxKey }));
      }
      const reply: JoinResponse = { InterfaceName: { SrcName: srcName, DstPrefix: net.options.interfacePrefix } };
      if (net.datapath.internalOnly === true) {
        // A parent-less macvlan network reaches nothing beyond itself, as Docker's own macvlan makes
        // it --internal: no gateway, and no docker_gwbridge either.
        reply.DisableGatewayService = true;
      } else if (!net.internal) {
        const gw4 = net.ipv4.find((c) => c.gateway)?.gateway;
        const gw6 = net.ipv6.find((c) => c.gateway)?.gateway;
        if (gw4) reply.Gateway = cidrAddress(gw4);
        if (gw6) reply.GatewayIPv6 = cidrAddress(gw6);
      }
      this.log.info('endpoint joined', { networkId: net.id, endpointId: ep.id, srcName, sandboxKey: req.SandboxKey });
      return reply;
    });
  }

  async leave(req: EndpointIdRequest): Promise<Record<string, never>> {
    return this.locks.run(req.NetworkID, async () => {
      const net = this.network(req.NetworkID);
      const ep = this.store.get<EndpointRecord>(epKey(req.NetworkID, req.EndpointID));
      if (!net || !ep) {
        this.log.info('Leave for an unknown endpoint: nothing to do', { networkId: req.NetworkID, endpointId: req.EndpointID });
        return {};
      }
      const datapath = this.datapathFor(net.type);
      await datapath.leave(net, ep);
      let left: EndpointRecord = ep;
      if (ep.externalConnectivity || ep.datapath.publishedPorts !== undefined) {
        // Docker revokes before Leave, but not always (a gateway change racing a disconnect, a restored
        // sandbox after a dockerd restart): published ports never outlive the container's attachment.
        await datapath.revokeExternalConnectivity(net, ep);
        this.log.info('Leave without RevokeExternalConnectivity: published ports released', { networkId: net.id, endpointId: ep.id });
        left = revokedRecord(ep);
      }
      if (left !== ep || ep.sandboxKey !== undefined) {
        const { sandboxKey: _left, ...rest } = left;
        this.store.transact((tx) => tx.put(epKey(net.id, ep.id), rest));
      }
      return {};
    });
  }

  async programExternalConnectivity(req: EndpointIdRequest): Promise<Record<string, never>> {
    return this.locks.run(req.NetworkID, async () => {
      const net = this.requireNetwork(req.NetworkID);
      const ep = this.requireEndpoint(net.id, req.EndpointID);
      const state = await this.datapathFor(net.type).programExternalConnectivity(net, ep);
      this.store.transact((tx) =>
        tx.put(epKey(net.id, ep.id), { ...ep, externalConnectivity: true, datapath: { ...ep.datapath, ...state } }),
      );
      return {};
    });
  }

  async revokeExternalConnectivity(req: EndpointIdRequest): Promise<Record<string, never>> {
    return this.locks.run(req.NetworkID, async () => {
      const net = this.network(req.NetworkID);
      const ep = this.store.get<EndpointRecord>(epKey(req.NetworkID, req.EndpointID));
      if (!net || !ep) {
        this.log.info('RevokeExternalConnectivity for an unknown endpoint: nothing to do', { networkId: req.NetworkID, endpointId: req.EndpointID });
        return {};
      }
      await this.datapathFor(net.type).revokeExternalConnectivity(net, ep);
      if (ep.externalConnectivity || ep.datapath.publishedPorts !== undefined) {
        this.store.transact((tx) => tx.put(epKey(net.id, ep.id), revokedRecord(ep)));
      }
      return {};
    });
  }

  async discoverNew(req: DiscoveryRequest): Promise<Record<string, never>> {
    const peer = discoveredPeer(req);
    if (!peer) return {};
    if (this.store.get<NodePeer>(peerKey(peer.address)) === undefined && this.store.count(PEER_PREFIX) >= this.maxPeers) {
      throw new UnavailableError(`DiscoverNew ${peer.address}: ${this.maxPeers} Swarm nodes are known already, the most tsnet keeps`);
    }
    this.store.transact((tx) => tx.put(peerKey(peer.address), peer));
    this.log.info('node discovered', { ...peer });
    for (const datapath of this.datapaths.values()) await datapath.discoverNew(peer);
    if (peer.self) await this.tellSelf(peer);
    return {};
  }

  async discoverDelete(req: DiscoveryRequest): Promise<Record<string, never>> {
    const peer = discoveredPeer(req);
    if (!peer) return {};
    this.store.transact((tx) => tx.del(peerKey(peer.address)));
    this.log.info('node left', { ...peer });
    for (const datapath of this.datapaths.values()) await datapath.discoverDelete(peer);
    return {};
  }

  /** Converges the kernel to the stored state, one data path at a time. */
  async reconcile(): Promise<void> {
    for (const peer of this.peers()) if (peer.self) await this.tellSelf(peer);
    const nets = this.networks();
    const eps = this.endpoints();
    for (const datapath of this.datapaths.values()) {
      // Docker never replays Discover events: hand the stored peers over before the kernel is converged.
      for (const peer of this.peers()) await datapath.discoverNew(peer).catch((err) => this.log.warn('stored peer not replayed', { peer: peer.address, err: String(err) }));
      const ours = nets.filter((n) => n.type === datapath.type);
      const ids = new Set(ours.map((n) => n.id));
      await datapath.reconcile(ours, eps.filter((e) => ids.has(e.networkId)));
    }
  }

  private async tellSelf(self: NodePeer): Promise<void> {
    await this.settings.onSelf?.(self).catch((err) => this.log.warn('this node\'s Swarm identity not taken up', { address: self.address, err: String(err) }));
  }

  private datapathFor(type: NetworkType): DataPath {
    const datapath = this.datapaths.get(type);
    if (!datapath) throw new BadRequestError(`network type ${type} is not available in this tsnet build`);
    return datapath;
  }

  private requireNetwork(id: string): NetworkRecord {
    const net = this.network(id);
    if (!net) throw new NotFoundError(`network ${id} not found`);
    return net;
  }

  private requireEndpoint(networkId: string, endpointId: string): EndpointRecord {
    const ep = this.store.get<EndpointRecord>(epKey(networkId, endpointId));
    if (!ep) throw new NotFoundError(`endpoint ${endpointId} not found in network ${networkId}`);
    return ep;
  }

  private networkFromRequest(req: CreateNetworkRequest): NetworkRecord {
    const opts = req.Options ?? {};
    const parsed = parseNetworkOptions(opts[OPTION_GENERIC]);
    if (parsed.ignored.length > 0) {
      this.log.info('ignoring Docker-internal options', { networkId: req.NetworkID, options: parsed.ignored });
    }
    const ipv4 = (req.IPv4Data ?? []).map(toIpamConfig);
    const ipv6 = (req.IPv6Data ?? []).map(toIpamConfig);
    for (const c of ipv4) checkFamily(c, 4);
    for (const c of ipv6) checkFamily(c, 6);
    return {
      id: req.NetworkID,
      type: parsed.options.type,
      options: parsed.options,
      generic: parsed.generic,
      ipv4,
      ipv6,
      internal: opts[OPTION_INTERNAL] === true,
      enableIPv6: opts[OPTION_ENABLE_IPV6] === true,
      createdAt: new Date().toISOString(),
      datapath: {},
    };
  }

  private checkNameClash(wanted: NetworkRecord): void {
    const name = 'bridgeName' in wanted.options ? wanted.options.bridgeName : undefined;
    if (!name) return;
    const clash = this.networks().find((n) => 'bridgeName' in n.options && n.options.bridgeName === name);
    if (clash) throw new ConflictError(`bridge name ${name} is already used by tsnet network ${clash.id}`);
  }
}

function toIpamConfig(data: IPAMData): IpamConfig {
  return {
    addressSpace: data.AddressSpace ?? '',
    pool: data.Pool,
    ...(data.Gateway ? { gateway: data.Gateway } : {}),
    auxAddresses: data.AuxAddresses ?? {},
  };
}

function checkFamily(config: IpamConfig, family: 4 | 6): void {
  const isV4 = isIPv4(cidrAddress(config.pool));
  if (isV4 !== (family === 4)) {
    throw new BadRequestError(`IPv${family}Data pool ${config.pool} is not an IPv${family} subnet`);
  }
  checkUsablePool(config.pool);
  const pool = createCIDR(config.pool);
  const addresses = [config.gateway, ...Object.values(config.auxAddresses)].filter((a): a is string => !!a);
  for (const address of addresses) {
    if (!pool.contains(cidrAddress(address))) throw new BadRequestError(`address ${address} is outside pool ${config.pool}`);
  }
}

/**
 * A pool no network can be built on. tsnet's IPAM refuses these at RequestPool; Docker's default IPAM
 * passes some on: Docker 28.5.2 and 20.10 hand `--subnet 0.0.0.0/24` to CreateNetwork as the pool
 * 0.0.0.0/24 with gateway 0.0.0.1 (only Docker 29's own IPAM reads it as "any free /24").
 */
function checkUsablePool(pool: string): void {
  const parsed = parseCidr(pool);
  if (!parsed) throw new BadRequestError(`pool ${pool} is not a CIDR`);
  const special = specialRangeOf(parsed.cidr);
  if (!special) return;
  const unspecified = parsed.cidr.network === 0n;
  throw new BadRequestError(
    `pool ${pool} overlaps ${special}, which no network may use` +
      (unspecified
        ? `; Docker's default IPAM passes --subnet ${pool} on as that literal subnet: give a real subnet, or use --ipam-driver tsnet, which takes it as any free /${parsed.cidr.prefix}`
        : ''),
  );
}

function sameNetworkSettings(a: NetworkRecord, b: NetworkRecord): boolean {
  return (
    a.type === b.type &&
    a.internal === b.internal &&
    a.enableIPv6 === b.enableIPv6 &&
    canonical(a.generic) === canonical(b.generic) &&
    canonical(a.ipv4) === canonical(b.ipv4) &&
    canonical(a.ipv6) === canonical(b.ipv6)
  );
}

function endpointFromRequest(net: NetworkRecord, req: CreateEndpointRequest): EndpointRecord {
  const iface = req.Interface ?? {};
  const options = req.Options ?? {};
  const address = iface.Address || undefined;
  const addressIPv6 = iface.AddressIPv6 || undefined;
  if (address) checkInNetwork(address, net.ipv4, 'Interface.Address');
  if (addressIPv6) checkInNetwork(addressIPv6, net.ipv6, 'Interface.AddressIPv6');

  const portmap = portBindings.safeParse(options[OPTION_PORTMAP] ?? []);
  if (!portmap.success) throw new BadRequestError(`Options.${OPTION_PORTMAP}: ${describeIssues(portmap.error)}`);
  const exposed = exposedPorts.safeParse(options[OPTION_EXPOSED_PORTS] ?? []);
  if (!exposed.success) throw new BadRequestError(`Options.${OPTION_EXPOSED_PORTS}: ${describeIssues(exposed.error)}`);

  let macAddress = (iface.MacAddress ?? '').toLowerCase();
  let macFromDriver = false;
  if (!macAddress) {
    const requested = options[OPTION_ENDPOINT_MAC];
    if (requested !== undefined) {
      const decoded = typeof requested === 'string' ? macFromBase64(requested) : undefined;
      if (!decoded) throw new BadRequestError(`Options.${OPTION_ENDPOINT_MAC}: must be the base64 of 6 MAC bytes`);
      macAddress = decoded;
    } else {
      macAddress = address && isIPv4(cidrAddress(address)) ? macFromIPv4(cidrAddress(address)) : randomMac();
    }
    macFromDriver = true;
  }
  return {
    networkId: net.id,
    id: req.EndpointID,
    ...(address ? { address } : {}),
    ...(addressIPv6 ? { addressIPv6 } : {}),
    macAddress,
    macFromDriver,
    portBindings: portmap.data,
    exposedPorts: exposed.data,
    externalConnectivity: false,
    createdAt: new Date().toISOString(),
    datapath: {},
  };
}

function checkInNetwork(address: string, configs: IpamConfig[], field: string): void {
  const ip = cidrAddress(address);
  if (configs.length === 0) return;
  if (!configs.some((c) => createCIDR(c.pool).contains(ip))) {
    throw new BadRequestError(`${field}: ${address} is not inside the network's subnets (${configs.map((c) => c.pool).join(', ')})`);
  }
}

function sameEndpointSettings(a: EndpointRecord, b: EndpointRecord): boolean {
  return (
    a.address === b.address &&
    a.addressIPv6 === b.addressIPv6 &&
    (b.macFromDriver || a.macAddress === b.macAddress) &&
    canonical(a.portBindings) === canonical(b.portBindings)
  );
}

/** The endpoint without external connectivity: no published ports to restore at the next start. */
function revokedRecord(ep: EndpointRecord): EndpointRecord {
  const { publishedPorts: _revoked, ...datapath } = ep.datapath;
  return { ...ep, externalConnectivity: false, datapath };
}

function endpointReply(ep: EndpointRecord): { Interface: { MacAddress?: string } } {
  return { Interface: ep.macFromDriver ? { MacAddress: ep.macAddress } : {} };
}

function discoveredPeer(req: DiscoveryRequest): NodePeer | undefined {
  if (req.DiscoveryType !== 1 || !req.DiscoveryData) return undefined;
  return {
    address: req.DiscoveryData.Address,
    bindAddress: req.DiscoveryData.BindAddress ?? '',
    self: req.DiscoveryData.Self ?? false,
  };
}

/** JSON with sorted keys, for comparing records regardless of key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}

export { DataPathError };
