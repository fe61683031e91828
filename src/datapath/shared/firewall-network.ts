import type { FirewallNetwork, PortsNetwork } from '../../firewall/network';
import { canonicalCidr, familyOf } from '../../firewall/rules';
import type { IpamConfig, NetworkRecord } from '../../model/records';
import { internalParentPeerName } from './names';

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

/**
 * The sink end of a parent-less (internal-only) macvlan network's veth parent (macvlan.ts): frames the
 * macvlans send to unknown MACs arrive there, in the host's stack. As an internal "network" on that
 * interface nothing it delivers is forwarded or reaches a host address, on IPv4 or IPv6.
 */
export function macvlanSinkOf(net: NetworkRecord): FirewallNetwork {
  return {
    id: net.id,
    hostBinding: '',
    bridge: internalParentPeerName(net.id),
    subnets: { 4: [], 6: [] },
    icc: true,
    masquerade: false,
    internal: true,
  };
}

/**
 * The stored networks that have firewall rules, as the firewall's start-up rebuild wants them: those on
 * a Linux bridge (bridge and vxlan types) and internal-only macvlan networks (their sink).
 */
export function firewalledNetworks(nets: readonly NetworkRecord[]): FirewallNetwork[] {
  return nets.flatMap((net) => {
    if (net.datapath.bridgeName) return [firewallNetworkOf(net, net.datapath.bridgeName)];
    if (net.options.type === 'macvlan' && net.datapath.internalOnly === true) return [macvlanSinkOf(net)];
    return [];
  });
}
