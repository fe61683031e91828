import type { FirewallNetwork, PortsNetwork } from '../../firewall/network';
import { canonicalCidr, familyOf } from '../../firewall/rules';
import type { IpamConfig, NetworkRecord } from '../../model/records';

/** What the firewall needs of a network on `bridge` (the data paths' side of the seam). */
export function firewallNetworkOf(net: NetworkRecord, bridge: string): FirewallNetwork {
  const o = net.options;
  return {
    ...portsNetworkOf(net),
    bridge,
    subnets: { 4: subnetsOf(net.ipv4, 4), 6: subnetsOf(net.ipv6, 6) },
    icc: o.type === 'bridge' ? o.enableIcc : true,
    masquerade: o.type === 'bridge' || o.type === 'vxlan' ? o.enableIpMasquerade : true,
    internal: net.internal,
  };
}

/** What publishing ports needs of a network. */
export function portsNetworkOf(net: NetworkRecord): PortsNetwork {
  const o = net.options;
  return { id: net.id, hostBinding: o.type === 'bridge' || o.type === 'vxlan' ? o.hostBindingIpv4 : '' };
}

function subnetsOf(pools: IpamConfig[], family: 4 | 6): string[] {
  return pools.map((p) => p.pool).filter((p) => familyOf(p) === family).map(canonicalCidr);
}
