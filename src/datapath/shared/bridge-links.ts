import type { EndpointRecord, NetworkRecord, VethNames } from '../../model/records';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { DataPathError } from '../datapath';
import { logRepair, type EnsuredLink } from './ensured-link';
import { foreignInterface, type LinkOwnership } from './link-ownership';
import { randomMac } from './mac';
import { containerVethName, hostVethName, isValidIfname } from './names';
import { describe } from '../../model/errors';

/**
 * The links of a network built on a Linux bridge (the bridge and VXLAN data paths): the bridge holding
 * the gateway address(es) and one veth pair per endpoint, host end on the bridge, container end handed
 * to Docker. Both helpers are create-or-verify: a link with our marker is converged (MTU, MAC,
 * addresses, master, hairpin, up), never recreated; a link this call creates is deleted again if a
 * later step fails.
 */

/** Port numbers run 1..BR_MAX_PORTS-1 (1024 - 1): the kernel refuses the 1024th port with EXFULL. */
export const BRIDGE_MAX_PORTS = 1023;

export interface BridgeSpec {
  name: string;
  /** The network's ownership marker. */
  marker: string;
  /** Undefined: the kernel's default at creation, and left as it is. */
  mtu?: number;
  /**
   * A MAC the bridge must have (created with, repaired to). Undefined: a random MAC fixed at creation
   * (otherwise the bridge takes the lowest MAC of its ports and changes with them), never changed.
   */
  mac?: string;
  /** Gateway "ip/len" addresses the bridge must hold. */
  gateways: string[];
}

/** Makes the bridge exist, marked, with its MAC, MTU and gateway addresses, and up. */
export async function ensureBridge(owner: LinkOwnership, spec: BridgeSpec): Promise<EnsuredLink> {
  const { name, marker, mtu, mac } = spec;
  let link = await nl.findLink(name);
  let created = false;
  if (link) {
    owner.check(link, marker, 'bridge');
  } else {
    try {
      link = await nl.createLink({ kind: 'bridge', name, mtu, mac: mac ?? randomMac(), nfCall: true });
    } catch (err) {
      if (nl.hasCode(err, 'EEXIST')) throw foreignInterface(name);
      throw err;
    }
    created = true;
  }

  const repairs: string[] = [];
  try {
    if (link.alias !== marker) await nl.setAlias(link, marker);
    if (mac !== undefined && link.mac !== mac) {
      await nl.setMac(link, mac);
      repairs.push(`mac ${link.mac} -> ${mac}`);
    }
    if (mtu !== undefined && link.mtu !== mtu) {
      await nl.setMtu(link, mtu);
      repairs.push(`mtu ${link.mtu} -> ${mtu}`);
    }
    if (link.bridge?.nfCallIptables !== true || link.bridge?.nfCallIp6tables !== true) {
      await nl.setBridgeOptions(link, { nfCall: true });
      if (!created) repairs.push('nf_call_iptables/ip6tables on');
    }
    const present = new Set((await nl.listAddresses({ link: link.index })).map((a) => normalCidr(a.cidr)));
    for (const gateway of spec.gateways) {
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
    if (created) await owner.deleteCreated(name);
    throw err;
  }
  return { link, created, repairs: created ? [] : repairs };
}

export interface VethSpec {
  hostIfname: string;
  containerIfname: string;
  /** The endpoint's ownership marker (on the host end). */
  marker: string;
  /** Both ends. */
  mtu: number;
  /** The container end's MAC; undefined: the kernel's random one. */
  mac?: string;
  bridge: nl.Link;
  /** For the error when the bridge is full. */
  networkId: string;
  /** Hairpin state of bridge ports by ifindex, when known (reconcile reads it in one dump). */
  hairpin?: ReadonlyMap<number, boolean>;
  /**
   * The namespace's links by name, when known (reconcile reads them in one dump): the host end is
   * looked up here instead of asked for, and a name not listed does not exist.
   */
  links?: ReadonlyMap<string, nl.Link>;
}

/**
 * Makes the endpoint's veth pair exist: host end marked, on the bridge, in hairpin mode, with the MTU
 * and up; container end with the MTU and the endpoint's MAC.
 */
export async function ensureVeth(owner: LinkOwnership, spec: VethSpec): Promise<EnsuredLink> {
  const { hostIfname, containerIfname, marker, mtu, mac, bridge, hairpin } = spec;
  let link = spec.links ? spec.links.get(hostIfname) : await nl.findLink(hostIfname);
  let created = false;
  if (link) {
    owner.check(link, marker, 'veth');
  } else {
    try {
      // Created up (the host end only; the container end stays down until Docker configures it).
      link = await nl.createLink({
        kind: 'veth',
        name: hostIfname,
        mtu,
        masterIndex: bridge.index,
        up: true,
        peer: { name: containerIfname, mtu, mac },
      });
    } catch (err) {
      if (nl.hasCode(err, 'EEXIST')) {
        const clash = (await nl.findLink(containerIfname)) ? containerIfname : hostIfname;
        throw foreignInterface(clash);
      }
      if (nl.hasCode(err, 'EXFULL')) {
        throw new DataPathError(
          `bridge ${bridge.name} already has ${BRIDGE_MAX_PORTS} ports, the kernel's limit: ` +
            `network ${spec.networkId} cannot take another endpoint on this host`,
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
    if (created) await owner.deleteCreated(hostIfname);
    throw err;
  }
  return { link, created, repairs: created ? [] : repairs };
}

/**
 * Join's check of the endpoint's veth pair: the container end must be in the host namespace for Docker
 * to move. If it is gone since CreateEndpoint (a reboot, or a sandbox that took the end with it), the
 * host end, if ours, is deleted and `remake` makes a new pair. Returns the container end's name.
 */
export async function ensureContainerEnd(
  owner: LinkOwnership,
  log: Logger,
  net: NetworkRecord,
  ep: EndpointRecord,
  remake: () => Promise<unknown>,
): Promise<string> {
  const { hostIfname, containerIfname } = vethNamesOf(ep);
  if (await nl.findLink(containerIfname)) return containerIfname;
  log.warn('container end of the veth pair is missing; recreating the pair', {
    networkId: net.id,
    endpointId: ep.id,
    link: containerIfname,
  });
  const host = await nl.findLink(hostIfname);
  if (host && host.alias === owner.epMarker(ep.id)) await nl.deleteLink(host);
  await remake();
  return containerIfname;
}

/** Gateway "ip/len" of every IPv4 and IPv6 pool of the network that has one. */
export function gatewaysOf(net: NetworkRecord): string[] {
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

function normalCidr(cidr: string): string {
  const { ip, prefixLen } = nl.parseCidr(cidr);
  return nl.formatCidr(ip, prefixLen);
}

export type { VethNames };

/** The endpoint's veth names: as stored at creation, else derived from the endpoint ID. */
export function vethNamesOf(ep: EndpointRecord): VethNames {
  const names = {
    hostIfname: ep.datapath.hostIfname || hostVethName(ep.id),
    containerIfname: ep.datapath.containerIfname || containerVethName(ep.id),
  };
  for (const name of [names.hostIfname, names.containerIfname]) {
    if (!isValidIfname(name)) throw new DataPathError(`endpoint ID "${ep.id}" gives an invalid interface name "${name}"`);
  }
  return names;
}

/**
 * A joined endpoint whose host veth end is gone lost its container with it (a veth pair dies whole when
 * the container's namespace goes, e.g. at a reboot): recreating the pair would only make an orphan for
 * the leak collector. Unjoined endpoints are still waiting for Join and are recreated.
 */
export function diedWithItsContainer(ep: EndpointRecord, presentLinks: { has(name: string): boolean }): boolean {
  return ep.sandboxKey !== undefined && !presentLinks.has(vethNamesOf(ep).hostIfname);
}

/**
 * Host veth ends a crash left unmarked: the kernel ignores an alias given at creation, so a link exists
 * for a moment before it carries its ownership marker, and a kill -9 in that moment leaves a pair no
 * marker ties to tsnet. Such a leftover has tsnet's endpoint-veth name, no alias, no stored endpoint, and
 * sits on no bridge or on one of this data path's own (another install's in-flight veth sits on that
 * install's bridge, so it is never taken for one).
 */
export function unmarkedLeftoverVeths(links: readonly nl.Link[], storedHostNames: ReadonlySet<string>, ownBridgeIndexes: ReadonlySet<number>): nl.Link[] {
  return links.filter(
    (l) =>
      l.kind === 'veth' &&
      /^tsv[0-9a-f]{12}$/.test(l.name) &&
      !l.alias &&
      !storedHostNames.has(l.name) &&
      (!l.masterIndex || ownBridgeIndexes.has(l.masterIndex)),
  );
}

/**
 * Deletes the veths unmarkedLeftoverVeths finds among `links` (default: the namespace's links now);
 * returns what could not be deleted.
 */
export async function deleteUnmarkedLeftovers(
  log: Logger,
  eps: readonly EndpointRecord[],
  ownBridgeIndexes: ReadonlySet<number>,
  links?: readonly nl.Link[],
): Promise<string[]> {
  const stored = new Set(eps.map((ep) => vethNamesOf(ep).hostIfname));
  const failures: string[] = [];
  for (const link of unmarkedLeftoverVeths(links ?? (await nl.listLinks()), stored, ownBridgeIndexes)) {
    try {
      if (await nl.deleteLink(link.index)) log.info('reconcile: deleted an unmarked veth a crash left behind', { link: link.name });
    } catch (err) {
      failures.push(`leftover ${link.name}: ${describe(err)}`);
    }
  }
  return failures;
}

/**
 * Reconcile's pass over the endpoints of a data path whose networks are Linux bridges (bridge and vxlan
 * types). One dump of the links and one of the bridge ports serve every endpoint (a lookup each would
 * cost a request per endpoint); the link dump is returned for the prunes after it: reconcile runs
 * before the socket listens, so nothing else changes these links meanwhile, and what the pass creates
 * is wanted, so no prune needs to see it.
 *
 * An endpoint whose joined veth is gone died with its container (left to the leak collector); a
 * missing veth of an endpoint not joined yet is made by its Join (ensureContainerEnd), not here:
 * creating 1,000 veth pairs costs the kernel alone about a second, and most such endpoints never see a
 * Join. `ensure` repairs one endpoint's pair of a network in `networks` (those whose bridge is ready).
 * Failures are appended to `failures`.
 */
export async function reconcileEndpointVeths(
  log: Logger,
  eps: readonly EndpointRecord[],
  networks: ReadonlyMap<string, NetworkRecord>,
  ensure: (net: NetworkRecord, ep: EndpointRecord, known: Required<Pick<VethSpec, 'hairpin' | 'links'>>) => Promise<EnsuredLink>,
  failures: string[],
): Promise<nl.Link[]> {
  let hairpin = new Map<number, boolean>();
  try {
    hairpin = new Map((await nl.listBridgePorts()).map((p) => [p.index, p.hairpin]));
  } catch (err) {
    log.warn('reconcile: cannot read bridge port options; setting hairpin mode on every endpoint', { err: errorText(err) });
  }
  const links = await nl.listLinks();
  const byName = new Map(links.map((l) => [l.name, l]));
  const dead: string[] = [];
  const awaitingJoin: string[] = [];
  for (const ep of eps) {
    const net = networks.get(ep.networkId);
    if (!net) continue; // another data path's endpoint, or its network already failed
    try {
      if (diedWithItsContainer(ep, byName)) {
        dead.push(ep.id);
        continue;
      }
      if (!byName.has(vethNamesOf(ep).hostIfname)) {
        awaitingJoin.push(ep.id);
        continue;
      }
      const result = await ensure(net, ep, { hairpin, links: byName });
      logRepair(log, result, 'veth', { networkId: net.id, endpointId: ep.id, link: result.link.name });
    } catch (err) {
      failures.push(`endpoint ${ep.id}: ${errorText(err)}`);
      log.error('reconcile: endpoint not repaired', { networkId: ep.networkId, endpointId: ep.id, err: errorText(err) });
    }
  }
  if (dead.length > 0) {
    log.info('reconcile: endpoint links went with their containers; left for the leak collector', { endpoints: dead.length, first: dead.slice(0, 10) });
  }
  if (awaitingJoin.length > 0) {
    log.info('reconcile: veths of endpoints not joined yet are missing; Join recreates them', { endpoints: awaitingJoin.length, first: awaitingJoin.slice(0, 10) });
  }
  return links;
}

function errorText(err: unknown): string {
  return describe(err);
}
