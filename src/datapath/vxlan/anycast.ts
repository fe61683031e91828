/**
 * The gateway MAC of a VXLAN network: locally administered unicast 02:74:73 ("ts") followed by the
 * 24-bit VNI. Derived from the VNI, not the network ID: standalone hosts create the "same" network
 * under different IDs, while the VNI is what makes them one network (and Swarm nodes share both).
 * Container MACs are 02:42:<IPv4> (macFromIPv4), so the two never collide.
 */
export function anycastGatewayMac(vni: number): string {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`invalid VNI ${vni}`);
  const bytes = [0x02, 0x74, 0x73, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
