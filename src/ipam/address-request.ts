import { formatCidr, formatIp, parseIp, type IpAddress } from './address';
import { IpamError } from './ipam-error';
import type { PoolLayout } from './pool';

/**
 * Parses the Address of a RequestAddress/ReleaseAddress: a bare IP as Docker sends it, or the
 * "ip/len" form tsnet replies with (len must then be the pool's prefix length).
 */
export function parseAddressText(text: string, layout: PoolLayout): IpAddress | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return parseIp(text);
  if (text.slice(slash + 1) !== String(layout.pool.prefix)) return undefined;
  return parseIp(text.slice(0, slash));
}

/** The address an explicit request (--ip, --aux-address, --gateway) names, if the pool can ever hold it. */
export function readRequestedAddress(poolId: string, layout: PoolLayout, text: string): bigint {
  const address = parseAddressText(text, layout);
  if (!address) {
    const example = formatIp(layout.family, layout.pool.network + 1n);
    throw new IpamError(`invalid address "${text}" for pool ${poolId}: expected a bare IP address such as ${example}`);
  }
  const shown = formatIp(address.family, address.value);
  if (!layout.contains(address)) throw new IpamError(`address ${shown} is outside pool ${formatCidr(layout.pool)}`);
  const role = layout.reservedRole(address.value);
  if (role) throw new IpamError(`address ${shown} is the ${role} of pool ${formatCidr(layout.pool)}`);
  return address.value;
}
