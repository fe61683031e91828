import { isIPv4 } from 'node:net';
import { addAddress, addNeighbour, deleteAddress, deleteNeighbour, findLink, listAddresses, listNeighbours } from '../../netlink';
import { macFromIPv4 } from '../../net/mac';

/**
 * The host side of Swarm service VIPs on a VXLAN network's bridge (issue 17; the rules are
 * firewall/vip.ts):
 *
 * - each VIP with tasks is an address of the bridge, with prefix length 32, so the host answers its
 *   clients' ARP for it like the anycast gateway: the bridge's MAC is the gateway MAC and `neigh_suppress`
 *   on the VXLAN port keeps requests for the bridge's own addresses off the VXLAN, so every host answers
 *   only its own containers;
 * - each task on another host has a permanent neighbour entry, address → 02:42:<IPv4> (the MAC tsnet gives
 *   every IPv4 endpoint), because the DNAT'd frame stays bridged and needs the task's MAC, and the host
 *   cannot ARP over the VXLAN (its requests come from the gateway MAC, which the gateway filter keeps off
 *   it). Tasks on this host are resolved by ARP as usual.
 *
 * The kernel is the state: every /32 IPv4 address of a tsnet VXLAN bridge is a VIP (the gateway carries
 * the subnet's length) and every permanent IPv4 neighbour entry on it is a task's (tsnet adds no other).
 */
export interface VipHostWanted {
  bridge: string;
  vips: readonly string[];
  remoteTasks: readonly string[];
}

export interface VipHostChange {
  vipsAdded: string[];
  vipsRemoved: string[];
  neighboursAdded: string[];
  neighboursRemoved: string[];
}

/** Makes the bridge's VIP addresses and task neighbours exactly the wanted ones; a missing bridge is left alone. */
export async function ensureVipHost(wanted: VipHostWanted): Promise<VipHostChange> {
  const change: VipHostChange = { vipsAdded: [], vipsRemoved: [], neighboursAdded: [], neighboursRemoved: [] };
  const link = await findLink(wanted.bridge);
  if (!link) return change;
  for (const a of [...wanted.vips, ...wanted.remoteTasks]) if (!isIPv4(a)) throw new Error(`VIP host state: "${a}" is not an IPv4 address`);
  const vips = new Set(wanted.vips);
  const present = (await listAddresses({ link: link.index, family: 4 })).filter((a) => a.prefixLen === 32).map((a) => a.ip);
  for (const ip of present) {
    if (vips.has(ip)) continue;
    if (await deleteAddress(wanted.bridge, `${ip}/32`)) change.vipsRemoved.push(ip);
  }
  for (const ip of vips) {
    if (present.includes(ip)) continue;
    if (await addAddress(wanted.bridge, `${ip}/32`)) change.vipsAdded.push(ip);
  }
  const tasks = new Map(wanted.remoteTasks.map((ip) => [ip, macFromIPv4(ip)]));
  const neighbours = (await listNeighbours({ linkIndex: link.index })).filter((n) => n.permanent && isIPv4(n.ip));
  for (const n of neighbours) {
    if (tasks.get(n.ip) === n.mac) continue;
    if (tasks.has(n.ip)) continue; // replaced below
    if (await deleteNeighbour({ linkIndex: link.index, ip: n.ip, mac: n.mac })) change.neighboursRemoved.push(n.ip);
  }
  for (const [ip, mac] of tasks) {
    if (neighbours.some((n) => n.ip === ip && n.mac === mac)) continue;
    await addNeighbour({ linkIndex: link.index, ip, mac });
    change.neighboursAdded.push(ip);
  }
  return change;
}
