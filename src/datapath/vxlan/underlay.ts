import { isIP } from 'node:net';
import { createCIDR } from 'ip6addr';
import * as nl from '../../netlink';
import { DataPathError } from '../datapath';

/**
 * The underlay of a VXLAN network on this host: the local address the VXLAN device sends from
 * (IFLA_VXLAN_LOCAL), the interface that address lives on (IFLA_VXLAN_LINK, and the MTU the overlay
 * is derived from).
 *
 * `-o underlay=` names an interface (its first global address is used, IPv4 before IPv6) or one of
 * the host's addresses. Without it: a fallback address when the caller has one (in Swarm, the node's
 * own data-path address from DiscoverNew Self); else, with `-o peers`, the interface of the routes to
 * the peers (all of them must leave through one interface) and its address on the peers' subnet, or
 * its first global address of that family; else the interface of the default route (IPv4 before
 * IPv6) and its first global address of that family.
 */
export interface Underlay {
  local: string;
  /** Prefix length of `local` on its interface: the underlay subnet (default peer-learning scope). */
  prefixLen: number;
  family: 4 | 6;
  link: { index: number; name: string; mtu: number };
}

/** VXLAN header overhead: outer Ethernet 14 + IP 20 (IPv6 40) + UDP 8 + VXLAN 8. */
export function vxlanOverhead(family: 4 | 6): number {
  return family === 4 ? 50 : 70;
}

/** The smallest MTU IPv4 allows (IPv6 needs 1280: see overlayMtu). */
const MIN_MTU = 68;

/**
 * The overlay MTU: the underlay MTU minus the encapsulation, or the user's
 * com.docker.network.driver.mtu when that is less. A requested MTU above what the underlay carries is
 * lowered (and reported through `lowered`).
 */
export function overlayMtu(underlayMtu: number, family: 4 | 6, requested?: number): { mtu: number; lowered: boolean } {
  const max = underlayMtu - vxlanOverhead(family);
  if (max < MIN_MTU) {
    throw new DataPathError(`underlay MTU ${underlayMtu} is too small for VXLAN (needs at least ${MIN_MTU + vxlanOverhead(family)})`);
  }
  if (requested === undefined) return { mtu: max, lowered: false };
  if (requested <= max) return { mtu: requested, lowered: false };
  return { mtu: max, lowered: true };
}

export interface UnderlayFacts {
  links: Pick<nl.Link, 'index' | 'name' | 'mtu' | 'up'>[];
  addresses: Pick<nl.AddressEntry, 'linkIndex' | 'family' | 'ip' | 'prefixLen' | 'scope'>[];
  routes: Pick<nl.RouteEntry, 'family' | 'dst' | 'table' | 'oifIndex'>[];
}

/** RT_SCOPE_UNIVERSE: global addresses only (not link-local, not host). */
const SCOPE_UNIVERSE = 0;

/** The pure decision: which address and interface, from a snapshot of the host's links, addresses and routes. */
export function chooseUnderlay(option: string | undefined, facts: UnderlayFacts, fallbackAddress?: string, peers: string[] = []): Underlay {
  const linkOf = (index: number) => facts.links.find((l) => l.index === index);
  const globals = (index: number, family?: 4 | 6) =>
    facts.addresses.filter((a) => a.linkIndex === index && a.scope === SCOPE_UNIVERSE && (family === undefined || a.family === family));
  const byAddress = (ip: string, what: string): Underlay => {
    const entry = facts.addresses.find((a) => a.ip === ip || sameIp(a.ip, ip));
    const link = entry && linkOf(entry.linkIndex);
    if (!entry || !link) throw new DataPathError(`${what} ${ip} is not an address of this host`);
    return { local: entry.ip, prefixLen: entry.prefixLen, family: entry.family, link: pick(link) };
  };

  if (option !== undefined && option !== '') {
    if (isIP(option)) return byAddress(option, 'underlay address');
    const link = facts.links.find((l) => l.name === option);
    if (!link) throw new DataPathError(`underlay interface ${option} does not exist`);
    const address = globals(link.index, 4)[0] ?? globals(link.index, 6)[0];
    if (!address) throw new DataPathError(`underlay interface ${option} has no global IPv4 or IPv6 address`);
    return { local: address.ip, prefixLen: address.prefixLen, family: address.family, link: pick(link) };
  }
  if (fallbackAddress) return byAddress(fallbackAddress, "the node's data-path address");

  const remote = peers.filter((p) => isIP(p) && !facts.addresses.some((a) => sameIp(a.ip, p)));
  if (remote.length > 0) {
    const ways = remote.map((peer) => ({ peer, route: routeTo(peer, facts.routes) }));
    const unrouted = ways.filter((w) => !w.route).map((w) => w.peer);
    if (unrouted.length > 0) {
      throw new DataPathError(`no route to peer(s) ${unrouted.join(', ')} to take the VXLAN underlay from: give -o underlay=IFACE|ADDR`);
    }
    const oifs = new Set(ways.map((w) => w.route!.oifIndex));
    if (oifs.size > 1) {
      const how = ways.map((w) => `${w.peer} via ${linkOf(w.route!.oifIndex!)?.name ?? `#${w.route!.oifIndex}`}`).join(', ');
      throw new DataPathError(`the routes to the peers leave through different interfaces (${how}): give -o underlay=IFACE|ADDR`);
    }
    const family = isIP(remote[0]!) === 6 ? 6 : 4;
    const link = linkOf(ways[0]!.route!.oifIndex!);
    const candidates = link ? globals(link.index, family) : [];
    const onPeerSubnet = candidates.find((a) => remote.every((p) => inCidr(p, `${a.ip}/${a.prefixLen}`)));
    const address = onPeerSubnet ?? candidates[0];
    if (!link || !address) {
      throw new DataPathError(
        `the interface ${link?.name ?? `#${ways[0]!.route!.oifIndex}`} of the route to the peers has no global IPv${family} address: give -o underlay=IFACE|ADDR`,
      );
    }
    return { local: address.ip, prefixLen: address.prefixLen, family, link: pick(link) };
  }

  for (const family of [4, 6] as const) {
    const route = facts.routes.find((r) => r.family === family && r.table === nl.RT_TABLE_MAIN && isDefault(r.dst) && r.oifIndex !== undefined);
    if (!route) continue;
    const link = linkOf(route.oifIndex!);
    const address = link && globals(link.index, family)[0];
    if (!link || !address) {
      throw new DataPathError(
        `the default route's interface ${link?.name ?? `#${route.oifIndex}`} has no global IPv${family} address: give -o underlay=IFACE|ADDR`,
      );
    }
    return { local: address.ip, prefixLen: address.prefixLen, family, link: pick(link) };
  }
  throw new DataPathError('this host has no default route to take the VXLAN underlay from: give -o underlay=IFACE|ADDR');
}

/** Reads the host's links, addresses and routes, then chooseUnderlay. */
export async function resolveUnderlay(option: string | undefined, fallbackAddress?: string, peers: string[] = []): Promise<Underlay> {
  const [links, addresses, routes] = await Promise.all([nl.listLinks(), nl.listAddresses(), nl.listRoutes()]);
  return chooseUnderlay(option, { links, addresses, routes }, fallbackAddress, peers);
}

/** The main table's most specific route with an interface towards `ip`. */
function routeTo(ip: string, routes: UnderlayFacts['routes']): UnderlayFacts['routes'][number] | undefined {
  const family = isIP(ip) === 6 ? 6 : 4;
  let best: UnderlayFacts['routes'][number] | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (r.family !== family || r.table !== nl.RT_TABLE_MAIN || r.oifIndex === undefined || !inCidr(ip, r.dst)) continue;
    const len = Number(r.dst.split('/')[1]);
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

function inCidr(ip: string, cidr: string): boolean {
  try {
    return createCIDR(cidr).contains(ip);
  } catch {
    return false;
  }
}

function pick(link: Pick<nl.Link, 'index' | 'name' | 'mtu'>): Underlay['link'] {
  return { index: link.index, name: link.name, mtu: link.mtu };
}

function isDefault(dst: string): boolean {
  return dst === '0.0.0.0/0' || dst === '::/0';
}

function sameIp(a: string, b: string): boolean {
  try {
    return nl.parseIp(a).equals(nl.parseIp(b));
  } catch {
    return false;
  }
}
