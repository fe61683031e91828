import type { DefaultPoolSetting } from '../config/settings';
import {
  cidrsOverlap,
  familyBits,
  familyName,
  formatCidr,
  lastAddress,
  parseCidr,
  type Cidr,
  type IpFamily,
} from './address';
import { IpamError } from './ipam-error';
import { SMALLEST_POOL_PREFIX } from './pool';

/** IPv6 pools for networks created with --ipv6 but no IPv6 --subnet: a ULA /48 ("tsnet" in hex) cut into /64s. */
export const DEFAULT_POOLS6: DefaultPoolSetting[] = [{ base: 'fd74:736e:6574::/48', size: 64 }];

/** One default pool setting, parsed: `base` is cut, in order, into subnets of prefix length `size`. */
export interface DefaultPool {
  base: Cidr;
  size: number;
}

/** Checks the settings once, at start-up, so a bad TSNET_DEFAULT_POOLS fails loudly instead of at the first network. */
export function readDefaultPools(settings: DefaultPoolSetting[], family: IpFamily, settingName: string): DefaultPool[] {
  return settings.map(({ base, size }) => {
    const parsed = parseCidr(base);
    const where = `${settingName}: ${base}/${size}`;
    if (!parsed) throw new IpamError(`${where}: "${base}" is not a CIDR`);
    if (parsed.cidr.family !== family) throw new IpamError(`${where}: expected an ${familyName(family)} base`);
    if (parsed.address !== parsed.cidr.network) {
      throw new IpamError(`${where}: base should be ${formatCidr(parsed.cidr)} (host bits must be zero)`);
    }
    if (!Number.isInteger(size) || size < parsed.cidr.prefix || size > SMALLEST_POOL_PREFIX[family]) {
      throw new IpamError(
        `${where}: size must be between /${parsed.cidr.prefix} and /${SMALLEST_POOL_PREFIX[family]}`,
      );
    }
    return { base: parsed.cidr, size };
  });
}

export function describeDefaultPools(pools: DefaultPool[]): string {
  return pools.map((p) => `${formatCidr(p.base)} split into /${p.size}`).join(', ');
}

/**
 * The first subnet of the default pools, in order, that overlaps none of `taken`: of each pool's own
 * size, or of `size` from every pool whose base can hold one.
 */
export function findFreeSubnet(pools: DefaultPool[], taken: Cidr[], size?: number): Cidr | undefined {
  for (const pool of size === undefined ? pools : poolsHolding(pools, size)) {
    const { base, size } = pool;
    const step = 1n << BigInt(familyBits(base.family) - size);
    const baseLast = lastAddress(base);
    let start = base.network;
    while (start + step - 1n <= baseLast) {
      const candidate: Cidr = { family: base.family, network: start, prefix: size };
      const blockers = taken.filter((t) => cidrsOverlap(t, candidate));
      if (blockers.length === 0) return candidate;
      // Jump past every blocker at once: a /8 host route must not cost 65536 iterations of /24s.
      const blockedUntil = blockers.reduce((end, b) => (lastAddress(b) > end ? lastAddress(b) : end), start);
      start = alignUp(blockedUntil + 1n, step);
    }
  }
  return undefined;
}

/** The pools whose base can hold a subnet of prefix length `size`, cut into subnets of that size. */
export function poolsHolding(pools: DefaultPool[], size: number): DefaultPool[] {
  return pools.filter((p) => p.base.prefix <= size).map((p) => ({ base: p.base, size }));
}

function alignUp(value: bigint, step: bigint): bigint {
  return ((value + step - 1n) / step) * step;
}
