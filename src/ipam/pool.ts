import {
  cidrContains,
  formatCidr,
  formatIp,
  lastAddress,
  parseCidr,
  type Cidr,
  type IpAddress,
  type IpFamily,
} from './address';

/** The record at `ipam/pool/<poolId>`. CIDRs are kept as text so that the record stays plain JSON. */
export interface StoredPool {
  addressSpace: string;
  pool: string;
  /** The `--ip-range` addresses are handed out from; "" for the whole pool. */
  subPool: string;
  v6: boolean;
  /** RequestPools holding it; at zero the pool and its addresses are deleted. */
  refs: number;
  /** Chosen from the default pools rather than asked for by CIDR. */
  auto: boolean;
  /** Hex of the last address handed out serially; the next serial search starts after it. */
  cursor: string | null;
}

/** The record at `ipam/addr/<poolId>/<hex>`: why the address is held. */
export interface StoredAddress {
  kind: 'gateway' | 'requested' | 'serial';
}

/** The smallest pool (largest prefix) accepted: room for a gateway and at least one endpoint. */
export const SMALLEST_POOL_PREFIX: Record<IpFamily, number> = { 4: 30, 6: 126 };

export function poolIdOf(addressSpace: string, pool: Cidr, subPool: Cidr | undefined): string {
  const id = `${addressSpace}/${formatCidr(pool)}`;
  return subPool ? `${id}/${formatCidr(subPool)}` : id;
}

/** Where addresses may live in a pool and where they are handed out from. */
export class PoolLayout {
  constructor(
    readonly pool: Cidr,
    /** The SubPool, or the pool itself. */
    readonly range: Cidr,
  ) {}

  static of(record: StoredPool): PoolLayout {
    const pool = parseStoredCidr(record.pool);
    return new PoolLayout(pool, record.subPool ? parseStoredCidr(record.subPool) : pool);
  }

  get family(): IpFamily {
    return this.pool.family;
  }

  contains(address: IpAddress): boolean {
    return cidrContains(this.pool, address);
  }

  /** Why an address of the pool can never be handed out, or undefined if it can. */
  reservedRole(value: bigint): string | undefined {
    if (value === this.pool.network) return this.family === 4 ? 'network address' : 'subnet-router anycast address';
    if (this.family === 4 && value === lastAddress(this.pool)) return 'broadcast address';
    return undefined;
  }

  /**
   * The first address of the range after `after` that is neither reserved nor taken, wrapping round
   * to the range start once; from the range start when `after` is undefined or outside the range.
   * Steps only over taken and reserved addresses, so the cost is bounded by what is allocated.
   */
  nextFree(isTaken: (value: bigint) => boolean, after?: bigint): bigint | undefined {
    const first = this.range.network;
    const last = lastAddress(this.range);
    let candidate = after !== undefined && after >= first && after < last ? after + 1n : first;
    for (let remaining = last - first + 1n; remaining > 0n; remaining -= 1n) {
      if (this.reservedRole(candidate) === undefined && !isTaken(candidate)) return candidate;
      candidate = candidate === last ? first : candidate + 1n;
    }
    return undefined;
  }

  /** The reply form Docker expects: the address with the pool's prefix length. */
  withPrefix(value: bigint): string {
    return `${formatIp(this.family, value)}/${this.pool.prefix}`;
  }
}

function parseStoredCidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`corrupt IPAM record: "${text}" is not a CIDR`);
  return parsed.cidr;
}
