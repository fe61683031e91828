import { isIP } from 'node:net';
import { createCIDR } from 'ip6addr';
import * as nl from '../../netlink';
import { DataPathError } from '../datapath';

/**
 * Head-end replication: broadcast, unknown-unicast and multicast frames leaving a VXLAN device are
 * sent once to every remote VTEP that has an all-zeros FDB entry on it ("flood entry"); unicast to a
 * known MAC goes to the VTEP the kernel learned it from. This module decides which flood entries a
 * device should carry; the data path applies the difference.
 */

/** The address in canonical text (IPv6 compressed, lower case), or undefined when it is not an IP. */
export function canonicalIp(ip: string): string | undefined {
  if (!isIP(ip)) return undefined;
  try {
    return nl.formatIp(nl.parseIp(ip));
  } catch {
    return undefined;
  }
}

/**
 * The flood destinations of a network: the configured peers (`-o peers`) and the discovered ones
 * (Swarm), canonical and deduplicated, without this host's own addresses (the same
 * `docker network create` runs on every host, so each host finds itself in the list), restricted to
 * the underlay's family. A peer of the other family is an error: the device cannot reach it.
 */
export function floodPeers(
  configured: string[],
  discovered: string[],
  localAddresses: string[],
  family: 4 | 6,
): string[] {
  const local = new Set(localAddresses.map((a) => canonicalIp(a)).filter((a): a is string => a !== undefined));
  const out = new Set<string>();
  for (const raw of configured) {
    const ip = canonicalIp(raw);
    if (!ip) throw new DataPathError(`peer "${raw}" is not an IP address`);
    if (isIP(ip) !== family) {
      throw new DataPathError(`peer ${ip} is IPv${isIP(ip)} but the underlay address is IPv${family}`);
    }
    if (!local.has(ip)) out.add(ip);
  }
  for (const raw of discovered) {
    const ip = canonicalIp(raw);
    // Discovered peers of the other family are not this network's business (another underlay).
    if (ip && isIP(ip) === family && !local.has(ip)) out.add(ip);
  }
  return [...out].sort();
}

export interface FloodPlan {
  add: string[];
  remove: string[];
}

/**
 * What to change so the device's flood entries are exactly `wanted`: entries present are the
 * all-zeros permanent entries with a `dst` (learned entries carry a real MAC and are left alone).
 */
export function planFlood(wanted: string[], present: Pick<nl.FdbEntry, 'mac' | 'dst'>[]): FloodPlan {
  const have = new Set(
    present
      .filter((e) => e.mac === nl.ZERO_MAC && e.dst !== undefined)
      .map((e) => canonicalIp(e.dst!))
      .filter((ip): ip is string => ip !== undefined),
  );
  const want = new Set(wanted.map((w) => canonicalIp(w) ?? w));
  return {
    add: [...want].filter((ip) => !have.has(ip)).sort(),
    remove: [...have].filter((ip) => !want.has(ip)).sort(),
  };
}

/** The flood destinations a device carries now. */
export async function floodEntries(linkIndex: number): Promise<string[]> {
  const entries = await nl.listFdbEntries({ linkIndex });
  return entries
    .filter((e) => e.mac === nl.ZERO_MAC && e.dst !== undefined)
    .map((e) => canonicalIp(e.dst!)!)
    .filter(Boolean)
    .sort();
}

/** Applies a plan to a device (additions first: a peer never goes missing during a change). */
export async function applyFlood(linkIndex: number, plan: FloodPlan): Promise<void> {
  for (const dst of plan.add) await nl.addFdbEntry({ linkIndex, mac: nl.ZERO_MAC, dst });
  for (const dst of plan.remove) await nl.deleteFdbEntry({ linkIndex, mac: nl.ZERO_MAC, dst });
}

/** Whether `ip` lies inside one of `cidrs` (same family only). */
export function insideCidrs(ip: string, cidrs: string[]): boolean {
  const family = isIP(ip);
  return cidrs.some((cidr) => {
    const base = cidr.split('/')[0]!;
    if (isIP(base) !== family) return false;
    try {
      return createCIDR(cidr).contains(ip);
    } catch {
      return false;
    }
  });
}

/** The subnet ("net/len") of an address with its prefix length. */
export function subnetOf(ip: string, prefixLen: number): string {
  return createCIDR(ip, prefixLen).toString();
}

/**
 * Self-healing: the VTEPs the kernel learned container MACs from (entries with a real MAC and a
 * `dst`, not permanent) that are not flood peers yet, are not this host, and lie inside `allowed`
 * (TSNET_PEER_CIDRS, by default the underlay subnet): a host that sends tsnet traffic on the network
 * is a member of it, but only from where members may be.
 */
export function learnedVteps(
  entries: Pick<nl.FdbEntry & { permanent: boolean }, 'mac' | 'dst' | 'permanent'>[],
  flood: string[],
  localAddresses: string[],
  allowed: string[],
): string[] {
  const known = new Set([...flood, ...localAddresses].map((a) => canonicalIp(a) ?? a));
  const out = new Set<string>();
  for (const e of entries) {
    if (e.permanent || e.mac === nl.ZERO_MAC || e.dst === undefined) continue;
    const ip = canonicalIp(e.dst);
    if (!ip || known.has(ip) || !insideCidrs(ip, allowed)) continue;
    out.add(ip);
  }
  return [...out].sort();
}

/**
 * Who may send a network's VNI to this host (its VXLAN input filter): the learning scope (so that a
 * VTEP not yet known can be learned from its traffic) and the flood peers outside it, of the
 * underlay's family, canonical ("ip" for a peer, "net/len" for a CIDR). Peers inside the scope are
 * left out: the scope's rule already admits them, and each rule costs every VXLAN packet a compare.
 */
export function allowedSources(peers: string[], learnScope: string[], family: 4 | 6): string[] {
  const scope = [
    ...new Set(
      learnScope
        .filter((cidr) => isIP(cidr.split('/')[0]!) === family)
        .map((cidr) => {
          const [base, len] = cidr.split('/');
          return createCIDR(base!, Number(len ?? (family === 4 ? 32 : 128))).toString();
        }),
    ),
  ];
  const outside = peers
    .map((p) => canonicalIp(p))
    .filter((ip): ip is string => ip !== undefined && isIP(ip) === family && !insideCidrs(ip, scope));
  return [...scope, ...[...new Set(outside)].sort()];
}
