import { IPAM_ADDRESS_PREFIX, IPAM_POOL_PREFIX } from '../model/keys';
import { addressHex, familyBits, type IpFamily } from './address';

/**
 * Store layout of the IPAM:
 *   ipam/pool/<poolId>                  -> StoredPool
 *   ipam/addr/<poolId>/<fixed-width-hex> -> StoredAddress (one key per allocated address)
 * Pool IDs contain '/', so the address of one pool is recognised by a suffix of exactly
 * 8 (IPv4) or 32 (IPv6) hex digits; keys of a pool whose ID extends another's never match that.
 */
export const POOLS_PREFIX = IPAM_POOL_PREFIX;
const ADDRESS_PREFIX = IPAM_ADDRESS_PREFIX;

export function poolKey(poolId: string): string {
  return POOLS_PREFIX + poolId;
}

export function poolIdOfKey(key: string): string {
  return key.slice(POOLS_PREFIX.length);
}

export function addressKeyPrefix(poolId: string): string {
  return `${ADDRESS_PREFIX}${poolId}/`;
}

export function addressKey(poolId: string, family: IpFamily, value: bigint): string {
  return addressKeyPrefix(poolId) + addressHex(family, value);
}

/** The address a key of this pool holds, or undefined for a key that belongs to another pool. */
export function addressOfKey(poolId: string, family: IpFamily, key: string): bigint | undefined {
  const suffix = key.slice(addressKeyPrefix(poolId).length);
  const width = familyBits(family) / 4;
  if (suffix.length !== width || !/^[0-9a-f]+$/.test(suffix)) return undefined;
  return BigInt(`0x${suffix}`);
}
