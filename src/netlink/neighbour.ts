import type { rt } from 'netlink';
import { u16be, u32 } from './attributes';
import { hasCode } from './errors';
import { formatMac, parseMac, ZERO_MAC } from './hwaddr';
import { AF_BRIDGE, familyNumber, formatIp, parseIp, AF_INET, AF_INET6 } from './ip';
import { NLM_F, request } from './socket';

/**
 * Forwarding-database entries (family AF_BRIDGE) on a bridge port or a VXLAN device, and neighbour
 * (ARP/NDP) entries. Entries tsnet adds are NUD_PERMANENT.
 */
export interface FdbEntry {
  linkIndex: number;
  /** "00:00:00:00:00:00" with a `dst` is a VXLAN flood entry (BUM traffic goes to every such dst). */
  mac: string;
  /** Remote VTEP address (VXLAN). */
  dst?: string;
  vni?: number;
  port?: number;
  /** NTF_MASTER (the entry is the bridge's) instead of NTF_SELF (the device's own, e.g. vxlan). */
  master?: boolean;
}

export interface NeighbourEntry {
  linkIndex: number;
  ip: string;
  mac: string;
}

/** The ndmsg and attributes for adding/removing an FDB entry. */
export function fdbRequest(entry: FdbEntry): { data: rt.Neighbor; attrs: rt.NeighborAttrs } {
  const data: rt.Neighbor = {
    family: AF_BRIDGE,
    ifindex: entry.linkIndex,
    state: { permanent: true },
    flags: entry.master ? { master: true } : { self: true },
  };
  const attrs: rt.NeighborAttrs = { lladdr: parseMac(entry.mac) };
  if (entry.dst !== undefined) attrs.dst = parseIp(entry.dst);
  if (entry.port !== undefined) attrs.port = u16be(entry.port);
  if (entry.vni !== undefined) attrs.vni = u32(entry.vni);
  return { data, attrs };
}

function describeFdb(entry: FdbEntry): string {
  return `fdb entry ${entry.mac}${entry.dst ? ` dst ${entry.dst}` : ''} on link #${entry.linkIndex}`;
}

/**
 * Adds an FDB entry. The all-zero MAC is appended (NLM_F_APPEND: one flood entry per remote VTEP);
 * any other MAC replaces the entry for that MAC. Repeating an add is not an error.
 */
export async function addFdbEntry(entry: FdbEntry): Promise<void> {
  const { data, attrs } = fdbRequest(entry);
  const flags = NLM_F.CREATE | (entry.mac === ZERO_MAC ? NLM_F.APPEND : NLM_F.REPLACE);
  try {
    await request(`add ${describeFdb(entry)}`, (s) => s.newNeighbor(data, attrs, { flags }));
  } catch (err) {
    if (!hasCode(err, 'EEXIST')) throw err;
  }
}

/**
 * Removes an FDB entry; one that is not there is not an error. Returns false when the kernel said
 * so (ENOENT); note that VXLAN answers success for a remote `dst` that is gone while other remotes of
 * the same MAC remain.
 */
export async function deleteFdbEntry(entry: FdbEntry): Promise<boolean> {
  const { data, attrs } = fdbRequest(entry);
  try {
    await request(`delete ${describeFdb(entry)}`, (s) => s.delNeighbor(data, attrs));
    return true;
  } catch (err) {
    if (hasCode(err, 'ENOENT', 'ENODEV')) return false;
    throw err;
  }
}

/** FDB entries of the namespace (optionally of one link), including the kernel's learned ones. */
export async function listFdbEntries(filter: { linkIndex?: number } = {}): Promise<(FdbEntry & { permanent: boolean })[]> {
  const msgs = await request('list fdb entries', (s) => s.getNeighbors({ family: AF_BRIDGE }));
  const out: (FdbEntry & { permanent: boolean })[] = [];
  for (const { data, attrs } of msgs) {
    if (data.family !== AF_BRIDGE || !attrs.lladdr) continue;
    const entry: FdbEntry & { permanent: boolean } = {
      linkIndex: data.ifindex ?? 0,
      mac: formatMac(attrs.lladdr),
      permanent: data.state?.permanent === true,
    };
    if (attrs.dst) entry.dst = formatIp(attrs.dst);
    if (attrs.port && attrs.port.length >= 2) entry.port = attrs.port.readUInt16BE(0);
    if (attrs.vni && attrs.vni.length >= 4) entry.vni = attrs.vni.readUInt32LE(0);
    if (data.flags?.master) entry.master = true;
    if (filter.linkIndex === undefined || entry.linkIndex === filter.linkIndex) out.push(entry);
  }
  return out;
}

/** The ndmsg and attributes for adding/removing a permanent ARP/NDP entry. */
export function neighbourRequest(entry: NeighbourEntry): { data: rt.Neighbor; attrs: rt.NeighborAttrs } {
  const ip = parseIp(entry.ip);
  return {
    data: { family: familyNumber(ip.length === 4 ? 4 : 6), ifindex: entry.linkIndex, state: { permanent: true } },
    attrs: { dst: ip, lladdr: parseMac(entry.mac) },
  };
}

/** Adds or replaces a permanent neighbour entry. */
export async function addNeighbour(entry: NeighbourEntry): Promise<void> {
  const { data, attrs } = neighbourRequest(entry);
  await request(`add neighbour ${entry.ip} lladdr ${entry.mac} on link #${entry.linkIndex}`, (s) =>
    s.newNeighbor(data, attrs, { flags: NLM_F.CREATE | NLM_F.REPLACE }),
  );
}

/** Removes a neighbour entry; one that is not there is not an error. */
export async function deleteNeighbour(entry: NeighbourEntry): Promise<boolean> {
  const { data, attrs } = neighbourRequest(entry);
  try {
    await request(`delete neighbour ${entry.ip} on link #${entry.linkIndex}`, (s) => s.delNeighbor(data, attrs));
    return true;
  } catch (err) {
    if (hasCode(err, 'ENOENT', 'ENODEV')) return false;
    throw err;
  }
}

/** IPv4/IPv6 neighbour entries of the namespace (optionally of one link). */
export async function listNeighbours(filter: { linkIndex?: number } = {}): Promise<(NeighbourEntry & { permanent: boolean })[]> {
  const msgs = await request('list neighbours', (s) => s.getNeighbors({ family: 0 }));
  const out: (NeighbourEntry & { permanent: boolean })[] = [];
  for (const { data, attrs } of msgs) {
    if ((data.family !== AF_INET && data.family !== AF_INET6) || !attrs.dst) continue;
    const entry = {
      linkIndex: data.ifindex ?? 0,
      ip: formatIp(attrs.dst),
      mac: attrs.lladdr ? formatMac(attrs.lladdr) : ZERO_MAC,
      permanent: data.state?.permanent === true,
    };
    if (filter.linkIndex === undefined || entry.linkIndex === filter.linkIndex) out.push(entry);
  }
  return out;
}
