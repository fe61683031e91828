import { listLinks } from './link';
import { listRoutes, RT_TABLE_MAIN } from './route';

/**
 * The bridges that carry a default route of the main table (IPv4 or IPv6): a host whose own uplink is
 * a bridge (br0 with the NIC enslaved, Proxmox's vmbr0). Containers must still be routed out through it.
 */
export async function listUplinkBridges(): Promise<string[]> {
  const [routes, links] = await Promise.all([listRoutes({ table: RT_TABLE_MAIN }), listLinks()]);
  const defaults = new Set(routes.filter((r) => r.dst.endsWith('/0') && r.oifIndex !== undefined).map((r) => r.oifIndex!));
  return links
    .filter((l) => l.kind === 'bridge' && defaults.has(l.index))
    .map((l) => l.name)
    .sort();
}
