import type { IpFamily } from './backend';

/**
 * What the firewall knows of a network: exactly what its rules need, nothing of records or options.
 * The data paths derive it (datapath/shared/firewall-network.ts).
 */
export interface FirewallNetwork {
  /** Docker's network ID (rules carry a marker made from it). */
  id: string;
  /** The Linux bridge the network's containers sit on. */
  bridge: string;
  /** The network's subnets by family, canonical ("10.1.0.0/24", "fd00:1::/64"). */
  subnets: Record<IpFamily, string[]>;
  /** Containers of the network may talk to each other. */
  icc: boolean;
  /** Traffic leaving the subnet is masqueraded. */
  masquerade: boolean;
  /** --internal: nothing crosses the bridge boundary. */
  internal: boolean;
  /** Default host address of published ports (com.docker.network.bridge.host_binding_ipv4). */
  hostBinding: string;
}

/** What publishing an endpoint's ports needs of its network. */
export type PortsNetwork = Pick<FirewallNetwork, 'id' | 'hostBinding'>;

/** Whether tsnet programs this family for the network: IPv4 always, IPv6 only with IPv6 subnets. */
export function wantsFamily(net: Pick<FirewallNetwork, 'subnets'>, family: IpFamily): boolean {
  return family === 4 || net.subnets[6].length > 0;
}
