import { listAddresses } from './address';
import { formatCidr, maskIp, parseCidr } from './ip';
import { listRoutes, RT_TABLE_MAIN } from './route';

/**
 * The networks this namespace already uses: the subnet of every interface address and the
 * destination of every main-table route (IPv4 and IPv6), default routes excluded. Sorted, unique
 * CIDRs in network form ("10.1.0.0/16"). The IPAM avoids pools that overlap any of them.
 */
export async function listHostNetworks(): Promise<string[]> {
  const [addresses, routes] = await Promise.all([listAddresses(), listRoutes({ table: RT_TABLE_MAIN })]);
  const cidrs = new Set<string>();
  const addNetwork = (cidr: string): void => {
    const { ip, prefixLen } = parseCidr(cidr);
    if (prefixLen === 0) return;
    cidrs.add(formatCidr(maskIp(ip, prefixLen), prefixLen));
  };
  for (const a of addresses) addNetwork(a.cidr);
  for (const r of routes) addNetwork(r.dst);
  return [...cidrs].sort();
}
