/**
 * MAC helpers for the data paths. The derivations themselves live in net/mac.ts (the driver uses
 * them when it picks an endpoint's MAC); they are re-exported here so data paths import one place.
 */
export { macFromIPv4, randomMac } from '../../net/mac';

/** True for a MAC with the group (multicast) bit set, which the kernel refuses for a device. */
export function isMulticastMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 0x01) === 1;
}
