import { cidrsOverlap, formatCidr, parseCidr, type Cidr, type IpFamily } from './address';

/**
 * Ranges no network may be built on: a pool overlapping one would hand out addresses the kernel treats
 * specially (the unspecified address, loopback, link-local, multicast).
 */
const SPECIAL: Record<IpFamily, Array<{ range: Cidr; what: string }>> = {
  4: [
    { range: cidr('0.0.0.0/8'), what: 'the unspecified range ("this network")' },
    { range: cidr('127.0.0.0/8'), what: 'the loopback range' },
    { range: cidr('169.254.0.0/16'), what: 'the link-local range' },
    { range: cidr('224.0.0.0/4'), what: 'the multicast range' },
  ],
  6: [
    { range: cidr('::/128'), what: 'the unspecified address' },
    { range: cidr('::1/128'), what: 'the loopback address' },
    { range: cidr('fe80::/10'), what: 'the link-local range' },
    { range: cidr('ff00::/8'), what: 'the multicast range' },
  ],
};

/** The largest pools a network may have: IPv4 /8, IPv6 /16. */
export const LARGEST_POOL_PREFIX: Record<IpFamily, number> = { 4: 8, 6: 16 };

/** Why `pool` cannot be a network's pool, or undefined when it can. */
export function specialRangeOf(pool: Cidr): string | undefined {
  const hit = SPECIAL[pool.family].find((s) => cidrsOverlap(s.range, pool));
  return hit && `${hit.what} ${formatCidr(hit.range)}`;
}

function cidr(text: string): Cidr {
  return parseCidr(text)!.cidr;
}
