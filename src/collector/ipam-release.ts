import type { EndpointRecord, IpamConfig, NetworkRecord } from '../model/records';
import type { Ipam } from '../ipam/ipam';
import { cidrAddress } from '../net/address';

/**
 * What Docker would have released through the IPAM for an endpoint or a network it forgot. Only
 * pools of tsnet's IPAM match; with Docker's own IPAM there is nothing of tsnet's to release.
 */
export class IpamRelease {
  constructor(private readonly ipam: Ipam) {}

  endpoint(net: NetworkRecord, ep: EndpointRecord): string[] {
    const released: string[] = [];
    for (const [configs, address] of [[net.ipv4, ep.address], [net.ipv6, ep.addressIPv6]] as const) {
      if (!address) continue;
      for (const poolId of this.poolIds(configs)) {
        if (this.ipam.releaseAddress(poolId, cidrAddress(address)).released) released.push(address);
      }
    }
    return released;
  }

  network(net: NetworkRecord): string[] {
    const released: string[] = [];
    for (const config of [...net.ipv4, ...net.ipv6]) {
      for (const poolId of this.poolIds([config])) {
        for (const address of [config.gateway, ...Object.values(config.auxAddresses)]) {
          if (address) this.ipam.releaseAddress(poolId, cidrAddress(address));
        }
        if (this.ipam.releasePool(poolId).released) released.push(poolId);
      }
    }
    return released;
  }

  private poolIds(configs: readonly IpamConfig[]): string[] {
    const pools = this.ipam.listPools();
    return configs.flatMap((c) => pools.filter((p) => p.addressSpace === c.addressSpace && p.pool === c.pool).map((p) => p.id));
  }
}
