import type { BridgedEndpointState, EndpointRecord, NetworkRecord, NetworkState, NodePeer, PublishedPortsState, VxlanNetworkState } from '../../model/records';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { EbtablesGatewayFilter, type GatewayFilter, type GatewayFilterEntry } from '../../firewall/gateway-filter';
import { systemClock, type Clock, type ClockTimer } from '../../model/clock';
import { describe } from '../../model/errors';
import { TaskStatus } from '../../model/task-status';
import type { PeerSource, PeerView } from '../../protocol';
import type { BridgeFirewall } from '../bridge/bridge';
import { ensureContainerEnd, ensureVeth, vethNamesOf, type VethSpec, deleteUnmarkedLeftovers, reconcileEndpointVeths } from '../shared/bridge-links';
import type { DataPath, JoinResult } from '../datapath';
import { optionalMacOf } from '../shared/endpoint-mac';
import { EndpointPorts, type BridgePorts } from '../shared/endpoint-ports';
import type { EnsuredLink } from '../shared/ensured-link';
import { LinkOwnership } from '../shared/link-ownership';
import { isValidInstance } from '../shared/names';
import { networkConfig, stateOf, storedMtu, storedNames, type NetworkConfig } from './config';
import type { DataAddressLookup, PeerListSource } from './control-plane';
import { ensureFlood } from './device';
import { canonicalIp, floodEntries, insideCidrs, learnedVteps } from './flood';
import { VxlanInputFilters, type VxlanInputFirewall } from './input-filter';
import { ensureNetwork, removeNetwork, storedGatewayFilterEntry, type NetworkParts } from './network';
import { PeerSet } from './peers';
import { warnIfNoIPv6Forwarding } from '../shared/ipv6-forwarding';

export type { VxlanNetworkState };
export type { DataAddressLookup, PeerListSource, PeerLists } from './control-plane';
export { vxlanDrift, vxlanName } from './device';
export type { VxlanInputFirewall } from './input-filter';

/**
 * Multi-host networks on the kernel's VXLAN. Per network on each host:
 *
 *   container eth0 ── veth ──┐
 *   container eth0 ── veth ──┼── bridge ts-<10 of net ID> (gateway IP + anycast gateway MAC)
 *                            └── vxlan  tsx<12 of net ID> (VNI, UDP port, local underlay address,
 *                                        learning on, neigh_suppress on its bridge port)
 *                                  └─ flood entries 00:00:00:00:00:00 dst <peer> for every peer
 *
 * - VNI: `-o vni=N`, required outside Swarm (every host must agree, and standalone hosts give the
 *   "same" network different IDs, so nothing can be derived); in Swarm the manager's AllocateNetwork
 *   adds it (driver/vni.ts).
 * - MTU: underlay MTU − 50 (− 70 over IPv6), or com.docker.network.driver.mtu when less; on the
 *   VXLAN device, the bridge and both ends of every veth (Docker sets no MTU for remote drivers).
 * - Anycast gateway (anycast.ts): every host's bridge holds the same gateway IP and the MAC derived
 *   from the VNI; nothing from the gateway crosses the VXLAN; NAT and published ports are per host, on
 *   the firewall module's usual per-network rules for the bridge.
 * - Peers: head-end replication (flood.ts) to `-o peers` and the peer set (peers.ts): discovered Swarm nodes,
 *   the peers Docker lists (through a PeerListSource, control-plane.ts), VTEPs learned from traffic; unicast
 *   destinations are learned by the kernel.
 * - Input filter (firewall/vxlan-input.ts): the VXLAN port takes the network's VNI only from its
 *   flood peers and from the learning scope (TSNET_PEER_CIDRS, default the underlay subnet), kept in
 *   step with every peer change.
 *
 * Ownership: every link carries a marker `tsnet:<instance>:vxlan:net|ep:<id>` (names.ts), so the
 * bridge data path's reconcile never takes these for its orphans and this one never touches others'.
 *
 * Files: network.ts makes a network whole (create, repair, reconcile); device.ts the VXLAN device and its
 * flood entries; config.ts the network's configuration; input-filter.ts the VXLAN port's input filter;
 * peers.ts who to flood to; this class the lifecycle and the background peer task.
 */

export interface VxlanDataPathOptions {
  log: Logger;
  /** TSNET_INSTANCE: part of every ownership marker. */
  instance: string;
  firewall?: BridgeFirewall;
  /** The VXLAN port's input filter per network; without it the port takes every sender. */
  inputFirewall?: VxlanInputFirewall;
  ports?: BridgePorts;
  /** Default: ebtables-nft (anycast.ts). */
  gatewayFilter?: GatewayFilter;
  /**
   * Where a VTEP may become a flood peer from its traffic alone (TSNET_PEER_CIDRS); default: the
   * subnet of each network's underlay address.
   */
  peerCidrs?: string[];
  /**
   * Swarm: the peers Docker lists for each network (swarm/network-peers.ts); read by the background
   * task only, never inside a request. Undefined: not used.
   */
  peerLists?: PeerListSource;
  /**
   * Swarm with `--data-path-addr`: the other nodes' data-path addresses by their control addresses
   * (swarm/data-addresses.ts). Discovered and Docker-listed peers are flooded to at their data address
   * once it is known. Undefined: not used.
   */
  dataAddresses?: DataAddressLookup;
  /** How often the background task looks for learned VTEPs, in ms (0: never). Default 5000. */
  peerIntervalMs?: number;
  /** How long a node stays a flood peer after DiscoverDelete, in ms. Default 60000. */
  peerGraceMs?: number;
  /** The background task's and the grace timers' time. Default: the real clock. */
  clock?: Clock;
}

export type VxlanEndpointState = BridgedEndpointState;

export class VxlanDataPath implements DataPath<VxlanNetworkState, VxlanEndpointState> {
  readonly type = 'vxlan' as const;
  private readonly log: Logger;
  /** What the networks' pieces are made with (network.ts). */
  private readonly parts: NetworkParts;
  /** Published ports, as on the bridge type: DNAT on this host to the container. */
  private readonly ports: EndpointPorts;
  /** The stored networks of this type, by ID, as last created or reconciled (peer events walk them). */
  private readonly networks = new Map<string, NetworkRecord>();
  /** Swarm: the node's own data-path address (DiscoverNew Self), the default underlay address. */
  private selfAddress?: string;
  private readonly peers: PeerSet;
  private readonly peerCidrs?: string[];
  private readonly peerLists?: PeerListSource;
  private readonly dataAddresses?: DataAddressLookup;
  /** Data-path addresses outside the learning scope, already warned about. */
  private readonly outOfScope = new Set<string>();
  private readonly clock: Clock;
  private readonly peerIntervalMs: number;
  private timer?: ClockTimer;
  private soonTimer?: ClockTimer;
  private ticking = false;
  /** Peer work that timers started and nobody awaits (see idle()). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: VxlanDataPathOptions) {
    if (!isValidInstance(options.instance)) throw new Error(`invalid tsnet instance name "${options.instance}"`);
    this.log = options.log;
    const owner = new LinkOwnership({ log: options.log, instance: options.instance, type: this.type });
    this.parts = {
      log: options.log,
      instance: options.instance,
      owner,
      firewall: options.firewall,
      inputFilters: new VxlanInputFilters(options.log, options.inputFirewall),
      gatewayFilter: options.gatewayFilter ?? new EbtablesGatewayFilter({ instance: options.instance, logger: options.log }),
    };
    this.ports = new EndpointPorts(options.ports, options.log);
    this.peerCidrs = options.peerCidrs;
    this.peerLists = options.peerLists;
    this.dataAddresses = options.dataAddresses;
    this.clock = options.clock ?? systemClock;
    this.peerIntervalMs = options.peerIntervalMs ?? 5000;
    const graceMs = options.peerGraceMs ?? 60_000;
    this.peers = new PeerSet({
      clock: this.clock,
      graceMs,
      onGone: (address) => {
        this.log.info('node gone for the grace period; no longer a discovered peer', { peer: address });
        this.track(this.refreshFlood());
      },
    });
  }

  private get owner(): LinkOwnership {
    return this.parts.owner;
  }

  /** Stops the background peer task and pending DiscoverDelete timers (shutdown, tests). */
  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    if (this.soonTimer !== undefined) this.clock.clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    this.peers.stop();
  }

  /** Resolves once the peer work that timers started (grace periods, the background task) has finished (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  // ---------------------------------------------------------------------------------------------
  // Networks

  async createNetwork(net: NetworkRecord): Promise<VxlanNetworkState> {
    const config = await this.configOf(net, undefined);
    await ensureNetwork(this.parts, net, config, { gatewayRules: (entry) => this.parts.gatewayFilter.set(entry), undoOnFailure: true });
    const state = stateOf(config);
    // As the driver will store it (peer events and the background task read the stored state).
    this.networks.set(net.id, { ...net, datapath: { ...state } });
    this.peerLists?.markDirty(); // a network Docker's peer list has not been read for
    this.startBackground();
    this.log.info('vxlan network ready', { networkId: net.id, ...state, peers: config.peers });
    warnIfNoIPv6Forwarding(net, this.log);
    return { ...state };
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    this.networks.delete(net.id);
    this.peers.forget(net.id);
    const names = storedNames(net);
    if (!names) return; // createNetwork refused it: nothing was made
    await removeNetwork(this.parts, net, names);
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoints

  async createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<VxlanEndpointState> {
    const bridge = await this.bridgeFor(net);
    await this.ensureEndpoint(net, ep, bridge, storedMtu(net));
    return { ...vethNamesOf(ep) };
  }

  async deleteEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.ports.release(net, ep);
    const { hostIfname } = vethNamesOf(ep);
    await this.owner.deleteIfOurs(hostIfname, this.owner.epMarker(ep.id), 'veth not deleted: it is not marked as this endpoint\'s', {
      endpointId: ep.id,
      link: hostIfname,
    });
  }

  async join(net: NetworkRecord, ep: EndpointRecord, _sandboxKey: string): Promise<JoinResult> {
    const remake = async () => this.ensureEndpoint(net, ep, await this.bridgeFor(net), storedMtu(net));
    return { srcName: await ensureContainerEnd(this.owner, this.log, net, ep, remake) };
  }

  async leave(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}

  /** Published ports, as on the bridge type: DNAT on this host to the container (endpoint-ports.ts). */
  async programExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<Partial<PublishedPortsState>> {
    return this.ports.program(net, ep);
  }

  async revokeExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.ports.revoke(net, ep);
  }

  /** A veth pair on the bridge, as the bridge type makes it (bridge-links.ts), with the overlay MTU. */
  private ensureEndpoint(
    net: NetworkRecord,
    ep: EndpointRecord,
    bridge: nl.Link,
    mtu: number,
    known: Pick<VethSpec, 'hairpin' | 'links'> = {},
  ): Promise<EnsuredLink> {
    const names = vethNamesOf(ep);
    return ensureVeth(this.owner, { ...names, marker: this.owner.epMarker(ep.id), mtu, mac: optionalMacOf(ep), bridge, networkId: net.id, ...known });
  }

  /** The network's bridge, the whole network repaired first if it has gone missing. */
  private async bridgeFor(net: NetworkRecord): Promise<nl.Link> {
    const names = storedNames(net);
    const link = names && (await nl.findLink(names.bridgeName));
    if (link) {
      this.owner.check(link, this.owner.netMarker(net.id), 'bridge');
      return link;
    }
    this.log.warn('network bridge missing; recreating the network\'s devices', { networkId: net.id, bridge: names?.bridgeName });
    const config = await this.configOf(net, net.datapath);
    const { bridge } = await ensureNetwork(this.parts, net, config, { gatewayRules: (entry) => this.parts.gatewayFilter.set(entry) });
    return bridge.link;
  }

  // ---------------------------------------------------------------------------------------------
  // Peers (Swarm)

  /**
   * A node joined (Swarm). Self: remember the node's data-path address (the default underlay address
   * of networks created afterwards). Another node: a flood entry towards it on every network.
   */
  async discoverNew(peer: NodePeer): Promise<void> {
    const address = canonicalIp(peer.address);
    if (!address) return;
    if (peer.self) {
      this.selfAddress = address;
      this.dataAddresses?.setSelf(address);
      return;
    }
    // A node (re-)joined: ask for its data-path address now and keep asking until it answers (its
    // tsnet may come later), so that networks created afterwards flood to the data address at once.
    if (this.dataAddresses) {
      this.dataAddresses.expire(address);
      this.startBackground();
    }
    const added = this.peers.join(address);
    this.peerLists?.markDirty();
    if (added) await this.refreshFlood();
  }

  /**
   * A node left (Swarm). Never dropped on this one event: Docker's events are late and out of order (a
   * stale DiscoverDelete can follow the re-join of the same address). The node stops being a
   * *discovered* peer only after peerGraceMs without a new DiscoverNew (peers.ts), and even then stays
   * a flood peer while Docker still lists it for a network or it has sent that network's traffic.
   * Flooding towards a node that is gone costs little; losing a live one cuts it off.
   */
  async discoverDelete(peer: NodePeer): Promise<void> {
    const address = canonicalIp(peer.address);
    if (!address || peer.self || !this.peers.isDiscovered(address)) return;
    this.peerLists?.markDirty();
    if (this.peers.leave(address)) {
      this.log.info('node left; it stays a flood peer for the grace period', { peer: address, graceMs: this.peers.graceMs });
    }
  }

  /**
   * Every network's peers with where each came from and the address flooded to (`tsnet peers`, metrics):
   * from memory only, no kernel read.
   */
  peerReport(): PeerView[] {
    const out = new Map<string, PeerView>();
    const add = (networkId: string, address: string, source: PeerSource) => {
      const key = `${networkId}/${address}`;
      const seen = out.get(key);
      if (seen) {
        if (!seen.sources.includes(source)) seen.sources.push(source);
        return;
      }
      const dataAddress = source === 'swarm' || source === 'docker' ? (this.dataAddresses?.dataOf(address) ?? address) : address;
      out.set(key, { networkId, address, sources: [source], dataAddress });
    };
    for (const net of this.networks.values()) {
      if (net.options.type === 'vxlan') for (const p of net.options.peers) add(net.id, p, 'static');
      const from = this.peers.sourcesOf(net.id);
      for (const p of from.swarm) add(net.id, p, 'swarm');
      for (const p of from.docker) add(net.id, p, 'docker');
      for (const p of from.learned) add(net.id, p, 'learned');
      for (const p of from.carried) add(net.id, p, 'carried');
    }
    return [...out.values()];
  }

  /** The background peer task's last run (`tsnet status`). */
  readonly peerTask = new TaskStatus('peer refresh');

  /** The flood destinations of a network now (tests, diagnostics). */
  async floodPeersOf(net: NetworkRecord): Promise<string[]> {
    return (await this.configOf(net, net.datapath)).peers;
  }

  /**
   * The background peer task: VTEPs that sent a network's traffic (learned FDB entries) become flood
   * peers (inside the learning scope), and, in Swarm, Docker's peer list of each network is read.
   * Errors are logged; the task never throws.
   */
  async refreshPeers(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const started = Date.now();
    let failed: string | undefined;
    try {
      const lists = await this.peerLists?.readIfDue([...this.networks.keys()]);
      for (const [networkId, listed] of lists ?? []) {
        this.peers.setListed(networkId, listed.map((ip) => canonicalIp(ip)).filter((ip): ip is string => !!ip));
      }
      const readDocker = lists !== undefined;
      const remapped = await this.refreshDataAddresses();
      const entries = await nl.listFdbEntries();
      const locals = (await nl.listAddresses()).map((a) => a.ip);
      for (const net of this.networks.values()) {
        try {
          const config = await this.configOf(net, net.datapath);
          const link = await nl.findLink(config.vxlanName);
          if (!link || link.alias !== this.owner.netMarker(net.id)) continue;
          const fresh = learnedVteps(entries.filter((e) => e.linkIndex === link.index), config.peers, locals, config.learnScope);
          if (fresh.length > 0) {
            this.peers.learn(net.id, fresh);
            this.log.info('peers learned from their traffic', { networkId: net.id, peers: fresh });
          }
          if (fresh.length > 0 || readDocker || remapped) await ensureFlood(this.log, link, [...config.peers, ...fresh]);
          await this.ensureInputFilterOfLive(net.id, config, [...config.peers, ...fresh]);
        } catch (err) {
          this.log.debug('peer refresh of a network failed', { networkId: net.id, err: describe(err) });
        }
      }
    } catch (err) {
      failed = describe(err);
      this.log.warn('peer refresh failed', { err: failed });
    } finally {
      this.ticking = false;
      this.peerTask.record(failed === undefined, Date.now() - started, failed ?? `${this.networks.size} networks`);
    }
  }

  /** After a peer event: every known network's flood entries again. */
  private async refreshFlood(): Promise<void> {
    for (const net of this.networks.values()) {
      try {
        const config = await this.configOf(net, net.datapath);
        const link = await nl.findLink(config.vxlanName);
        if (link && link.alias === this.owner.netMarker(net.id)) await ensureFlood(this.log, link, config.peers);
        await this.ensureInputFilterOfLive(net.id, config, config.peers);
      } catch (err) {
        this.log.error('flood entries or input filter not updated', { networkId: net.id, err: describe(err) });
      }
    }
  }

  /**
   * For the background paths (peer events, the peer task), which run outside the driver's calls: a
   * network deleted meanwhile loses the filter this may just have written for it.
   */
  private async ensureInputFilterOfLive(networkId: string, config: NetworkConfig, peers: string[]): Promise<void> {
    await this.parts.inputFilters.ensure(networkId, config, peers);
    if (!this.networks.has(networkId)) await this.parts.inputFilters.remove(networkId);
  }

  /**
   * Asks the discovered and Docker-listed nodes (control addresses) for their data-path addresses where
   * due (swarm/data-addresses.ts); true when the lookup changed.
   */
  private async refreshDataAddresses(): Promise<boolean> {
    if (!this.dataAddresses) return false;
    const controls = this.peers.controlAddresses();
    for (const local of (await nl.listAddresses()).map((a) => canonicalIp(a.ip))) if (local) controls.delete(local);
    return this.dataAddresses.refresh(controls);
  }

  /** A discovered or Docker-listed peer's flood destination: its data-path address when known and inside the learning scope. */
  private floodAddressOf(control: string, learnScope: string[]): string {
    const data = this.dataAddresses?.dataOf(control);
    if (!data) return control;
    if (insideCidrs(data, learnScope)) return data;
    if (!this.outOfScope.has(data)) {
      this.outOfScope.add(data);
      this.log.warn('a node\'s data-path address is outside TSNET_PEER_CIDRS (default: the underlay subnet); flooding to its control address', { control, data, scope: learnScope });
    }
    return control;
  }

  private configOf(net: NetworkRecord, stored: NetworkState | undefined): Promise<NetworkConfig> {
    return networkConfig(net, stored, {
      log: this.log,
      selfAddress: this.selfAddress,
      peerCidrs: this.peerCidrs,
      otherPeers: (networkId, learnScope) => this.peers.destinationsOf(networkId, (control) => this.floodAddressOf(control, learnScope)),
    });
  }

  private startBackground(): void {
    this.soon();
    if (this.timer !== undefined || this.peerIntervalMs <= 0) return;
    this.timer = this.clock.setInterval(() => this.track(this.refreshPeers()), this.peerIntervalMs);
  }

  /** One peer refresh shortly (a network just created or found again), besides the periodic one. */
  private soon(delayMs = 1000): void {
    if (this.soonTimer !== undefined || this.peerIntervalMs <= 0) return;
    this.soonTimer = this.clock.setTimeout(() => {
      this.soonTimer = undefined;
      this.track(this.refreshPeers());
    }, delayMs);
  }

  /** Work a timer started: never throws (each path logs its own errors); idle() waits for it. */
  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  // ---------------------------------------------------------------------------------------------
  // Reconcile

  /**
   * Converges the kernel to the stored VXLAN networks and endpoints: bridge, VXLAN device, flood
   * entries, gateway filter and firewall rules of every network; every endpoint's veth; published
   * ports; links carrying this instance's vxlan markers that no record refers to are deleted, and the
   * gateway filter holds exactly the stored networks' rules. Keeps going past failures and throws one
   * error listing them at the end.
   */
  async reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void> {
    const ours = nets.filter((n) => n.type === this.type);
    const failures: string[] = [];
    const bridges = new Map<string, { link: nl.Link; mtu: number }>();
    const entries: GatewayFilterEntry[] = [];
    this.networks.clear();

    for (const net of ours) {
      this.networks.set(net.id, net);
      try {
        // Keep flooding to whom the surviving device floods to until Docker's peers are read again.
        const names = storedNames(net);
        const device = this.peerLists && names ? await nl.findLink(names.vxlanName) : undefined;
        if (device && device.alias === this.owner.netMarker(net.id)) this.peers.carry(net.id, await floodEntries(device.index));
        const config = await this.configOf(net, net.datapath);
        const { bridge } = await ensureNetwork(this.parts, net, config, {
          gatewayRules: async (entry) => void entries.push(entry),
          logRepairs: true,
        });
        bridges.set(net.id, { link: bridge.link, mtu: config.mtu });
      } catch (err) {
        failures.push(`network ${net.id}: ${describe(err)}`);
        this.log.error('reconcile: network not repaired', { networkId: net.id, err: describe(err) });
        // Keep its gateway rules if its device is still there.
        const names = storedNames(net);
        const entry = names && storedGatewayFilterEntry(net, names.vxlanName);
        if (entry) entries.push(entry);
      }
    }

    try {
      await this.parts.gatewayFilter.replaceAll(entries);
    } catch (err) {
      failures.push(`gateway filter: ${describe(err)}`);
      this.log.error('reconcile: gateway filter not restored', { err: describe(err) });
    }

    const ready = new Map(ours.filter((n) => bridges.has(n.id)).map((n) => [n.id, n]));
    const links = await reconcileEndpointVeths(
      this.log,
      eps,
      ready,
      (net, ep, known) => {
        const bridge = bridges.get(net.id)!;
        return this.ensureEndpoint(net, ep, bridge.link, bridge.mtu, known);
      },
      failures,
    );

    try {
      // Scoped to this type's networks: the bridge data path reconciles its own on the same publisher.
      for (const lost of await this.ports.reconcile(ours, eps)) {
        // A port a host service took meanwhile is logged only: one lost port must not keep tsnet from starting.
        if (!/already allocated/.test(lost.error)) failures.push(`published ports of ${lost.endpointId}: ${lost.error}`);
      }
    } catch (err) {
      failures.push(`published ports: ${describe(err)}`);
      this.log.error('reconcile: published ports not restored', { err: describe(err) });
    }

    const wanted = { net: new Set(ours.map((n) => n.id)), ep: new Set(eps.map((e) => e.id)) };
    // Endpoints first, then VXLAN devices, then bridges.
    failures.push(...(await this.owner.pruneOrphans(wanted, (link, marker) => (marker.object === 'ep' ? 0 : link.kind === 'vxlan' ? 1 : 2), links)));
    failures.push(...(await deleteUnmarkedLeftovers(this.log, eps, new Set([...bridges.values()].map((b) => b.link.index)), links)));

    if (ours.length > 0) this.startBackground();
    if (failures.length > 0) {
      throw new Error(`vxlan reconcile left ${failures.length} problem(s): ${failures.join('; ')}`);
    }
  }
}
