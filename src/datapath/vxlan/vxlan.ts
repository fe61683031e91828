import type { EndpointRecord, NetworkRecord, NodePeer, PublishedPortsState, VxlanNetworkState, VxlanOptions } from '../../model/records';
import type { VxlanInputFilter } from '../../firewall/vxlan-input';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { EbtablesGatewayFilter, type GatewayFilter, type GatewayFilterEntry } from '../../firewall/gateway-filter';
import { anycastGatewayMac } from './anycast';
import type { BridgeFirewall } from '../bridge/bridge';
import { ensureBridge, ensureContainerEnd, ensureVeth, gatewaysOf, vethNamesOf, type VethNames, type VethSpec, deleteUnmarkedLeftovers, reconcileEndpointVeths } from '../shared/bridge-links';
import { DataPathError, type DataPath, type JoinResult } from '../datapath';
import { optionalMacOf } from '../shared/endpoint-mac';
import { EndpointPorts, type BridgePorts } from '../shared/endpoint-ports';
import { logRepair, type EnsuredLink } from '../shared/ensured-link';
import { foreignInterface, LinkOwnership } from '../shared/link-ownership';
import { bridgeName, isValidIfname, isValidInstance, parseOwnerMarker } from '../shared/names';
import type { DataAddressMap } from '../../swarm/data-addresses';
import { allowedSources, applyFlood, canonicalIp, floodEntries, floodPeers, insideCidrs, learnedVteps, planFlood, subnetOf } from './flood';
import { overlayMtu, resolveUnderlay, type Underlay } from './underlay';
import { describe } from '../../model/errors';

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
 * - Peers: head-end replication (vxlan-peers.ts) to `-o peers` and discovered Swarm nodes; unicast
 *   destinations are learned by the kernel.
 * - Input filter (firewall/vxlan-input.ts): the VXLAN port takes the network's VNI only from its
 *   flood peers and from the learning scope (TSNET_PEER_CIDRS, default the underlay subnet), kept in
 *   step with every peer change.
 *
 * Ownership: every link carries a marker `tsnet:<instance>:vxlan:net|ep:<id>` (names.ts), so the
 * bridge data path's reconcile never takes these for its orphans and this one never touches others'.
 */

/** The VXLAN device of a network: "tsx" + 12 characters of the network ID. */
export function vxlanName(networkId: string): string {
  return `tsx${networkId.slice(0, 12)}`;
}

/** The firewall's part for VXLAN networks: who may send a network's VNI to this host. */
export interface VxlanInputFirewall {
  setVxlanInput(networkId: string, filter: VxlanInputFilter): Promise<void>;
  removeVxlanInput(networkId: string): Promise<void>;
}

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
   * Swarm: the peers Docker lists for a network (GET /networks/{id} -> Peers[].IP, fed by Swarm's
   * gossip); read by the background task only, never inside a request. Undefined: not used.
   */
  networkPeers?: (networkId: string) => Promise<string[] | undefined>;
  /**
   * Swarm with `--data-path-addr`: the other nodes' data-path addresses by their control addresses
   * (vxlan-addr-map.ts). Discovered and Docker-listed peers are flooded to at their data address once
   * it is known. Undefined: not used.
   */
  dataAddresses?: DataAddressMap;
  /** How often the background task looks for learned VTEPs, in ms (0: never). Default 5000. */
  peerIntervalMs?: number;
  /** How often Docker's peer lists are read, in ms (sooner after a Discover event). Default 30000. */
  dockerPeersIntervalMs?: number;
  /** How long a node stays a flood peer after DiscoverDelete, in ms. Default 60000. */
  peerGraceMs?: number;
}

/** What ep.datapath holds for a VXLAN endpoint (as for the bridge type). */
export type VxlanEndpointState = VethNames & Partial<PublishedPortsState>;

export type { VxlanNetworkState };

/** What the data path works with for one network: the stored state plus the derived pieces. */
interface NetworkConfig extends VxlanNetworkState {
  family: 4 | 6;
  underlayIndex: number;
  gateways: string[];
  /** Flood destinations: configured, discovered, listed by Docker, learned from traffic. */
  peers: string[];
  /** Where peers may be learned from traffic. */
  learnScope: string[];
}

export class VxlanDataPath implements DataPath<VxlanNetworkState, VxlanEndpointState> {
  readonly type = 'vxlan' as const;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly firewall?: BridgeFirewall;
  private readonly inputFirewall?: VxlanInputFirewall;
  /** The input filter last applied, by network (a peer refresh that changes nothing runs no iptables). */
  private readonly inputApplied = new Map<string, string>();
  private readonly owner: LinkOwnership;
  /** Published ports, as on the bridge type: DNAT on this host to the container. */
  private readonly ports: EndpointPorts;
  private readonly filter: GatewayFilter;
  /** The stored networks of this type, by ID, as last created or reconciled (peer events walk them). */
  private readonly networks = new Map<string, NetworkRecord>();
  /** Swarm: the node's own data-path address (DiscoverNew Self), the default underlay address. */
  private selfAddress?: string;
  /** Swarm: the other nodes (DiscoverNew), flood destinations of every network. */
  private readonly discovered = new Set<string>();
  /** DiscoverDelete grace timers by address. */
  private readonly leaving = new Map<string, NodeJS.Timeout>();
  /** Swarm: the peers Docker lists, by network. */
  private readonly dockerPeers = new Map<string, Set<string>>();
  /** VTEPs that sent this network's traffic (self-healing), by network; kept while the network lives. */
  private readonly learned = new Map<string, Set<string>>();
  private readonly peerCidrs?: string[];
  private readonly networkPeers?: (networkId: string) => Promise<string[] | undefined>;
  private readonly dataAddresses?: DataAddressMap;
  /** Data-path addresses outside the learning scope, already warned about. */
  private readonly outOfScope = new Set<string>();
  private readonly peerIntervalMs: number;
  private readonly dockerPeersIntervalMs: number;
  private readonly peerGraceMs: number;
  /**
   * Flood destinations found on a network's device at reconcile (the kernel keeps them across a
   * restart, the sets above do not): still flooded to until Docker's peer list of the network was read.
   */
  private readonly carried = new Map<string, Set<string>>();
  private timer?: NodeJS.Timeout;
  private soonTimer?: NodeJS.Timeout;
  private ticking = false;
  private dockerDirty = true;
  private lastDockerRead = 0;

  constructor(options: VxlanDataPathOptions) {
    if (!isValidInstance(options.instance)) throw new Error(`invalid tsnet instance name "${options.instance}"`);
    this.log = options.log;
    this.instance = options.instance;
    this.firewall = options.firewall;
    this.inputFirewall = options.inputFirewall;
    this.owner = new LinkOwnership({ log: options.log, instance: options.instance, type: this.type });
    this.ports = new EndpointPorts(options.ports, options.log);
    this.filter = options.gatewayFilter ?? new EbtablesGatewayFilter({ instance: options.instance, logger: options.log });
    this.peerCidrs = options.peerCidrs;
    this.networkPeers = options.networkPeers;
    this.dataAddresses = options.dataAddresses;
    this.peerIntervalMs = options.peerIntervalMs ?? 5000;
    this.dockerPeersIntervalMs = options.dockerPeersIntervalMs ?? 30_000;
    this.peerGraceMs = options.peerGraceMs ?? 60_000;
  }

  /** Stops the background peer task and pending DiscoverDelete timers (shutdown, tests). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    for (const t of this.leaving.values()) clearTimeout(t);
    this.leaving.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Networks

  async createNetwork(net: NetworkRecord): Promise<VxlanNetworkState> {
    const config = await this.configOf(net, undefined);
    const made: string[] = [];
    try {
      const bridge = await this.ensureBridge(net, config);
      if (bridge.created) made.unshift(config.bridgeName);
      const vxlan = await this.ensureVxlan(net, config, bridge.link);
      if (vxlan.created) made.unshift(config.vxlanName);
      await this.ensureFlood(vxlan.link, config.peers);
      await this.ensureInputFilter(net.id, config, config.peers, true);
      await this.filter.set(filterEntry(config));
      await this.firewall?.addNetwork(net, config.bridgeName);
    } catch (err) {
      if (made.length > 0) {
        await this.firewall?.removeNetwork(net, config.bridgeName).catch((e) => this.logCleanupFailure('firewall rules', config.bridgeName, e));
        await this.removeInputFilter(net.id).catch((e) => this.logCleanupFailure('vxlan input filter', config.vxlanName, e));
        await this.filter.remove(config.vxlanName).catch((e) => this.logCleanupFailure('gateway filter', config.vxlanName, e));
        for (const name of made) await this.owner.deleteCreated(name);
      }
      throw err;
    }
    const state = stateOf(config);
    // As the driver will store it (peer events and the background task read the stored state).
    this.networks.set(net.id, { ...net, datapath: { ...state } });
    this.dockerDirty = true; // a network Docker's peer list has not been read for
    this.startBackground();
    this.log.info('vxlan network ready', { networkId: net.id, ...state, peers: config.peers });
    return { ...state };
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    this.networks.delete(net.id);
    this.carried.delete(net.id);
    this.learned.delete(net.id);
    this.dockerPeers.delete(net.id);
    const names = this.storedNames(net);
    if (!names) return; // createNetwork refused it: nothing was made
    await this.firewall?.removeNetwork(net, names.bridgeName);
    await this.removeInputFilter(net.id);
    await this.filter.remove(names.vxlanName);
    const marker = this.owner.netMarker(net.id);
    // The VXLAN device first (its FDB goes with it), then the bridge.
    for (const name of [names.vxlanName, names.bridgeName]) {
      await this.owner.deleteIfOurs(name, marker, 'link not deleted: it is not marked as this network\'s', { networkId: net.id, link: name });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Endpoints

  async createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<VxlanEndpointState> {
    const bridge = await this.bridgeFor(net);
    await this.ensureEndpoint(net, ep, bridge, this.mtuOf(net));
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
    const remake = async () => this.ensureEndpoint(net, ep, await this.bridgeFor(net), this.mtuOf(net));
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
    const pending = this.leaving.get(address);
    if (pending) clearTimeout(pending);
    this.leaving.delete(address);
    this.dockerDirty = true;
    if (this.discovered.has(address)) return;
    this.discovered.add(address);
    await this.refreshFlood();
  }

  /**
   * A node left (Swarm). Never dropped on this one event: Docker's events are late and out of order (a
   * stale DiscoverDelete can follow the re-join of the same address). The node stops being a
   * *discovered* peer only after peerGraceMs without a new DiscoverNew, and even then stays a flood
   * peer while Docker still lists it for a network or it has sent that network's traffic. Flooding
   * towards a node that is gone costs little; losing a live one cuts it off.
   */
  async discoverDelete(peer: NodePeer): Promise<void> {
    const address = canonicalIp(peer.address);
    if (!address || peer.self || !this.discovered.has(address)) return;
    this.dockerDirty = true;
    if (this.leaving.has(address)) return;
    const timer = setTimeout(() => {
      this.leaving.delete(address);
      this.discovered.delete(address);
      this.log.info('node gone for the grace period; no longer a discovered peer', { peer: address });
      void this.refreshFlood();
    }, this.peerGraceMs);
    timer.unref();
    this.leaving.set(address, timer);
    this.log.info('node left; it stays a flood peer for the grace period', { peer: address, graceMs: this.peerGraceMs });
  }

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
    try {
      const now = Date.now();
      const readDocker = this.networkPeers !== undefined && (this.dockerDirty || now - this.lastDockerRead >= this.dockerPeersIntervalMs);
      if (readDocker) {
        this.dockerDirty = false;
        this.lastDockerRead = now;
        for (const net of this.networks.values()) {
          try {
            const listed = await this.networkPeers!(net.id);
            if (listed) {
              this.dockerPeers.set(net.id, new Set(listed.map((ip) => canonicalIp(ip)).filter((ip): ip is string => !!ip)));
              this.carried.delete(net.id);
            } else {
              this.dockerDirty = true; // Docker does not list it (yet): ask again next time
            }
          } catch (err) {
            this.dockerDirty = true; // Docker not up yet: ask again next time
            this.log.debug('Docker peer list not read', { networkId: net.id, err: describe(err) });
          }
        }
      }
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
            const set = this.learned.get(net.id) ?? new Set<string>();
            for (const ip of fresh) set.add(ip);
            this.learned.set(net.id, set);
            this.log.info('peers learned from their traffic', { networkId: net.id, peers: fresh });
          }
          if (fresh.length > 0 || readDocker || remapped) await this.ensureFlood(link, [...config.peers, ...fresh]);
          await this.ensureInputFilterOfLive(net.id, config, [...config.peers, ...fresh]);
        } catch (err) {
          this.log.debug('peer refresh of a network failed', { networkId: net.id, err: describe(err) });
        }
      }
    } catch (err) {
      this.log.warn('peer refresh failed', { err: describe(err) });
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Asks the discovered and Docker-listed nodes (control addresses) for their data-path addresses where
   * due (vxlan-addr-map.ts); true when the map changed.
   */
  private async refreshDataAddresses(): Promise<boolean> {
    if (!this.dataAddresses) return false;
    const controls = new Set([...this.discovered, ...[...this.dockerPeers.values()].flatMap((set) => [...set])]);
    for (const local of (await nl.listAddresses()).map((a) => canonicalIp(a.ip))) if (local) controls.delete(local);
    return this.dataAddresses.refresh(controls);
  }

  /** A discovered or Docker-listed peer's flood destination: its data-path address when known and inside the learning scope. */
  private dataAddressOf(control: string, learnScope: string[]): string {
    const data = this.dataAddresses?.dataOf(control);
    if (!data) return control;
    if (insideCidrs(data, learnScope)) return data;
    if (!this.outOfScope.has(data)) {
      this.outOfScope.add(data);
      this.log.warn('a node\'s data-path address is outside TSNET_PEER_CIDRS (default: the underlay subnet); flooding to its control address', { control, data, scope: learnScope });
    }
    return control;
  }

  private startBackground(): void {
    this.soon();
    if (this.timer || this.peerIntervalMs <= 0) return;
    this.timer = setInterval(() => void this.refreshPeers(), this.peerIntervalMs);
    this.timer.unref();
  }

  /** One peer refresh shortly (a network just created or found again), besides the periodic one. */
  private soon(delayMs = 1000): void {
    if (this.soonTimer || this.peerIntervalMs <= 0) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.refreshPeers();
    }, delayMs);
    this.soonTimer.unref();
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
        const names = this.storedNames(net);
        const device = this.networkPeers && names ? await nl.findLink(names.vxlanName) : undefined;
        if (device && device.alias === this.owner.netMarker(net.id)) this.carried.set(net.id, new Set(await floodEntries(device.index)));
        const config = await this.configOf(net, net.datapath);
        const bridge = await this.ensureBridge(net, config);
        logRepair(this.log, bridge, 'bridge', { networkId: net.id, bridge: config.bridgeName });
        const vxlan = await this.ensureVxlan(net, config, bridge.link);
        logRepair(this.log, vxlan, 'vxlan device', { networkId: net.id, vxlan: config.vxlanName });
        await this.ensureFlood(vxlan.link, config.peers);
        await this.ensureInputFilter(net.id, config, config.peers, true);
        entries.push(filterEntry(config));
        await this.firewall?.addNetwork(net, config.bridgeName);
        bridges.set(net.id, { link: bridge.link, mtu: config.mtu });
      } catch (err) {
        failures.push(`network ${net.id}: ${describe(err)}`);
        this.log.error('reconcile: network not repaired', { networkId: net.id, err: describe(err) });
        // Keep its gateway rules if its device is still there.
        const names = this.storedNames(net);
        const state = net.datapath as Partial<VxlanNetworkState>;
        if (names && typeof state.gatewayMac === 'string') {
          entries.push({ device: names.vxlanName, mac: state.gatewayMac, ipv4: ipv4Gateways(net) });
        }
      }
    }

    try {
      await this.filter.replaceAll(entries);
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

  // ---------------------------------------------------------------------------------------------
  // Configuration

  /**
   * The network's effective configuration. At creation (`stored` undefined) everything is derived
   * from the options and the host; at reconcile the stored names, VNI, port and MTU are kept and the
   * underlay is looked up again (the stored address first: it may have moved after a reboot).
   */
  private async configOf(net: NetworkRecord, stored: Record<string, unknown> | undefined): Promise<NetworkConfig> {
    if (net.options.type !== 'vxlan') throw new DataPathError(`network ${net.id} is not a vxlan network`);
    const options: VxlanOptions = net.options;
    const vni = options.vni ?? numberField(stored, 'vni');
    if (vni === undefined) {
      throw new DataPathError(
        'a vxlan network needs -o vni=N (1-16777215) outside Swarm: run the same `docker network create -d tsnet ' +
          '-o type=vxlan -o vni=N -o peers=...` on every host (the VNI is what makes them one network)',
      );
    }
    const port = options.port;
    const storedLocal = stringField(stored, 'local');
    let underlay: Underlay;
    try {
      underlay = await resolveUnderlay(options.underlay ?? storedLocal, options.underlay ? undefined : this.selfAddress);
    } catch (err) {
      if (!storedLocal || options.underlay) throw err;
      // The stored address is gone: take the underlay as a new network would, and say so.
      underlay = await resolveUnderlay(undefined, this.selfAddress);
      this.log.warn('the underlay address of the network changed', { networkId: net.id, was: storedLocal, now: underlay.local });
    }
    const storedMtu = numberField(stored, 'mtu');
    let mtu: number;
    if (storedMtu !== undefined) {
      mtu = storedMtu;
    } else {
      const result = overlayMtu(underlay.link.mtu, underlay.family, options.mtu);
      if (result.lowered) {
        this.log.warn('requested MTU lowered to what the underlay carries', { networkId: net.id, requested: options.mtu, mtu: result.mtu, underlay: underlay.link.name });
      }
      mtu = result.mtu;
    }
    const localAddresses = (await nl.listAddresses()).map((a) => a.ip);
    const learnScope = this.peerCidrs ?? [subnetOf(underlay.local, underlay.prefixLen)];
    const others = [
      ...[...this.discovered, ...(this.dockerPeers.get(net.id) ?? [])].map((control) => this.dataAddressOf(control, learnScope)),
      ...(this.learned.get(net.id) ?? []),
      ...(this.carried.get(net.id) ?? []),
    ];
    const peers = floodPeers(options.peers, others, localAddresses, underlay.family);
    const bridge = stringField(stored, 'bridgeName') ?? options.bridgeName ?? bridgeName(net.id);
    const vxlan = stringField(stored, 'vxlanName') ?? vxlanName(net.id);
    for (const name of [bridge, vxlan]) {
      if (!isValidIfname(name)) throw new DataPathError(`invalid interface name "${name}": 1-15 characters, no '/', ':' or spaces`);
    }
    return {
      bridgeName: bridge,
      vxlanName: vxlan,
      vni,
      port,
      local: underlay.local,
      underlay: underlay.link.name,
      underlayIndex: underlay.link.index,
      family: underlay.family,
      mtu,
      gatewayMac: anycastGatewayMac(vni),
      gateways: gatewaysOf(net),
      peers,
      learnScope,
    };
  }

  private storedNames(net: NetworkRecord): { bridgeName: string; vxlanName: string } | undefined {
    const stored = net.datapath ?? {};
    const bridge = stringField(stored, 'bridgeName');
    const vxlan = stringField(stored, 'vxlanName');
    if (!bridge || !vxlan || !isValidIfname(bridge) || !isValidIfname(vxlan)) return undefined;
    return { bridgeName: bridge, vxlanName: vxlan };
  }

  private mtuOf(net: NetworkRecord): number {
    const mtu = numberField(net.datapath, 'mtu');
    if (mtu === undefined) throw new DataPathError(`network ${net.id} has no stored overlay MTU (was it created by this tsnet?)`);
    return mtu;
  }

  // ---------------------------------------------------------------------------------------------
  // Create-or-verify

  /** The bridge: marked, anycast gateway MAC, overlay MTU, gateway addresses, up (bridge-links.ts). */
  private ensureBridge(net: NetworkRecord, config: NetworkConfig): Promise<EnsuredLink> {
    return ensureBridge(this.owner, {
      name: config.bridgeName,
      marker: this.owner.netMarker(net.id),
      mtu: config.mtu,
      mac: config.gatewayMac,
      gateways: config.gateways,
    });
  }

  /**
   * The VXLAN device: marked, with the network's VNI, port, local address, underlay link and learning,
   * on the bridge with neigh_suppress, overlay MTU, up. A device whose VXLAN attributes differ (they
   * cannot be changed in place) is made again; a VNI another device already uses on this port is
   * refused with the name of its owner.
   */
  private async ensureVxlan(net: NetworkRecord, config: NetworkConfig, bridge: nl.Link): Promise<EnsuredLink> {
    const name = config.vxlanName;
    const marker = this.owner.netMarker(net.id);
    let link = await nl.findLink(name);
    let created = false;
    const repairs: string[] = [];
    if (link) {
      this.owner.check(link, marker, 'vxlan');
      const drift = vxlanDrift(link, config);
      if (drift.length > 0) {
        this.log.warn('vxlan device differs from the network; making it again', { networkId: net.id, vxlan: name, drift });
        await nl.deleteLink(link);
        repairs.push(`recreated (${drift.join(', ')})`);
        link = undefined;
      }
    }
    if (!link) {
      await this.checkVniFree(config, net.id);
      try {
        link = await nl.createLink({
          kind: 'vxlan',
          name,
          vni: config.vni,
          port: config.port,
          local: config.local,
          learning: true,
          underlayIndex: config.underlayIndex,
          mtu: config.mtu,
          masterIndex: bridge.index,
        });
      } catch (err) {
        if (nl.hasCode(err, 'EEXIST')) {
          if (await nl.findLink(name)) throw foreignInterface(name);
          await this.checkVniFree(config, net.id);
          throw new DataPathError(`VNI ${config.vni} on UDP port ${config.port} is already in use on this host`);
        }
        throw err;
      }
      created = repairs.length === 0;
    }
    try {
      if (link.alias !== marker) await nl.setAlias(link, marker);
      if (link.masterIndex !== bridge.index) {
        await nl.setMaster(link, bridge);
        if (!created) repairs.push(`master -> ${bridge.name}`);
      }
      if (link.mtu !== config.mtu) {
        await nl.setMtu(link, config.mtu);
        repairs.push(`mtu ${link.mtu} -> ${config.mtu}`);
      }
      // ARP/ND for the bridge's own (gateway) addresses is then never flooded to the VXLAN (anycast.ts).
      await nl.setBridgePortOptions(link, { neighSuppress: true, learning: true });
      if (!link.up) {
        await nl.setLinkUp(link);
        if (!created) repairs.push('set up');
      }
    } catch (err) {
      if (created) await this.owner.deleteCreated(name);
      throw err;
    }
    return { link, created, repairs: created ? [] : repairs };
  }

  /** Refuses a VNI that another VXLAN device already uses on the same port and family. */
  private async checkVniFree(config: NetworkConfig, networkId: string): Promise<void> {
    const marker = this.owner.netMarker(networkId);
    for (const link of await nl.listLinks()) {
      if (link.kind !== 'vxlan' || !link.vxlan || (link.name === config.vxlanName && link.alias === marker)) continue;
      if (link.vxlan.vni !== config.vni || (link.vxlan.port ?? 8472) !== config.port) continue;
      const family = link.vxlan.local === undefined ? undefined : link.vxlan.local.includes(':') ? 6 : 4;
      if (family !== undefined && family !== config.family) continue;
      const owner = parseOwnerMarker(link.alias);
      if (owner && owner.type === 'vxlan' && owner.object === 'net') {
        throw new DataPathError(
          `VNI ${config.vni} (UDP port ${config.port}) is already used by tsnet vxlan network ${owner.id.slice(0, 12)}` +
            `${owner.instance === this.instance ? '' : ` of tsnet instance ${owner.instance}`} on this host (interface ${link.name}); ` +
            'give this network another -o vni',
        );
      }
      throw new DataPathError(
        `VNI ${config.vni} (UDP port ${config.port}) is already used on this host by interface ${link.name}, which tsnet does not manage; ` +
          'give this network another -o vni (or -o vxlan_port)',
      );
    }
  }

  /** Makes the device's flood entries exactly `peers`. */
  private async ensureFlood(vxlan: nl.Link, peers: string[]): Promise<void> {
    const plan = planFlood(peers, await nl.listFdbEntries({ linkIndex: vxlan.index }));
    if (plan.add.length === 0 && plan.remove.length === 0) return;
    await applyFlood(vxlan.index, plan);
    this.log.info('flood entries updated', { vxlan: vxlan.name, added: plan.add, removed: plan.remove });
  }

  /** After a peer event: every known network's flood entries again. */
  private async refreshFlood(): Promise<void> {
    for (const net of this.networks.values()) {
      try {
        const config = await this.configOf(net, net.datapath);
        const link = await nl.findLink(config.vxlanName);
        if (link && link.alias === this.owner.netMarker(net.id)) await this.ensureFlood(link, config.peers);
        await this.ensureInputFilterOfLive(net.id, config, config.peers);
      } catch (err) {
        this.log.error('flood entries or input filter not updated', { networkId: net.id, err: describe(err) });
      }
    }
  }

  /**
   * Makes the network's VXLAN input filter admit `peers` and the learning scope; skipped when that is
   * what was last applied, unless `force` (create, reconcile, repair: the kernel may have lost it).
   */
  private async ensureInputFilter(networkId: string, config: NetworkConfig, peers: string[], force = false): Promise<void> {
    if (!this.inputFirewall) return;
    const filter: VxlanInputFilter = {
      family: config.family,
      vni: config.vni,
      port: config.port,
      sources: allowedSources(peers, config.learnScope, config.family),
    };
    const key = JSON.stringify(filter);
    if (!force && this.inputApplied.get(networkId) === key) return;
    this.inputApplied.delete(networkId);
    await this.inputFirewall.setVxlanInput(networkId, filter);
    this.inputApplied.set(networkId, key);
    this.log.info('vxlan input filter set', { networkId, vni: filter.vni, port: filter.port, sources: filter.sources });
  }

  /**
   * For the background paths (peer events, the peer task), which run outside the driver's calls: a
   * network deleted meanwhile loses the filter this may just have written for it.
   */
  private async ensureInputFilterOfLive(networkId: string, config: NetworkConfig, peers: string[]): Promise<void> {
    await this.ensureInputFilter(networkId, config, peers);
    if (!this.networks.has(networkId)) await this.removeInputFilter(networkId);
  }

  private async removeInputFilter(networkId: string): Promise<void> {
    this.inputApplied.delete(networkId);
    await this.inputFirewall?.removeVxlanInput(networkId);
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
    const names = this.storedNames(net);
    const link = names && (await nl.findLink(names.bridgeName));
    if (link) {
      this.owner.check(link, this.owner.netMarker(net.id), 'bridge');
      return link;
    }
    this.log.warn('network bridge missing; recreating the network\'s devices', { networkId: net.id, bridge: names?.bridgeName });
    const config = await this.configOf(net, net.datapath);
    const bridge = await this.ensureBridge(net, config);
    const vxlan = await this.ensureVxlan(net, config, bridge.link);
    await this.ensureFlood(vxlan.link, config.peers);
    await this.ensureInputFilter(net.id, config, config.peers, true);
    await this.filter.set(filterEntry(config));
    await this.firewall?.addNetwork(net, config.bridgeName);
    return bridge.link;
  }

  private logCleanupFailure(what: string, name: string, err: unknown): void {
    this.log.error(`clean-up after a failed call: ${what} not removed`, { link: name, err: describe(err) });
  }
}

/** The VXLAN attributes of an existing device that differ from the network's. */
export function vxlanDrift(link: nl.Link, config: Pick<NetworkConfig, 'vni' | 'port' | 'local' | 'underlayIndex'>): string[] {
  const info = link.vxlan ?? {};
  const drift: string[] = [];
  if (info.vni !== config.vni) drift.push(`vni ${info.vni} != ${config.vni}`);
  if ((info.port ?? 8472) !== config.port) drift.push(`port ${info.port} != ${config.port}`);
  if ((info.local && canonicalIp(info.local)) !== canonicalIp(config.local)) drift.push(`local ${info.local} != ${config.local}`);
  if (info.learning === false) drift.push('learning off');
  if (info.underlayIndex !== undefined && info.underlayIndex !== config.underlayIndex) drift.push(`underlay #${info.underlayIndex} != #${config.underlayIndex}`);
  return drift;
}

function stateOf(config: NetworkConfig): VxlanNetworkState {
  return {
    bridgeName: config.bridgeName,
    vxlanName: config.vxlanName,
    vni: config.vni,
    port: config.port,
    local: config.local,
    underlay: config.underlay,
    mtu: config.mtu,
    gatewayMac: config.gatewayMac,
  };
}

function filterEntry(config: NetworkConfig): GatewayFilterEntry {
  return { device: config.vxlanName, mac: config.gatewayMac, ipv4: config.gateways.filter((g) => !g.includes(':')).map((g) => g.split('/')[0]!) };
}

function ipv4Gateways(net: NetworkRecord): string[] {
  return net.ipv4.map((p) => p.gateway).filter((g): g is string => !!g).map((g) => g.split('/')[0]!);
}

function numberField(record: Record<string, unknown> | undefined, key: string): number | undefined {
  const v = record?.[key];
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

function stringField(record: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = record?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

