import type { RequestPoolRequest } from '../protocol';
import { cidrWithin, familyName, formatCidr, parseCidr, type Cidr, type IpFamily } from './address';
import { checkAddressSpace } from './address-space';
import { IpamError } from './ipam-error';
import { SMALLEST_POOL_PREFIX } from './pool';
import { LARGEST_POOL_PREFIX, specialRangeOf } from './special-ranges';

/**
 * A RequestPool checked and parsed: either an explicit CIDR (with an optional range) or "any free pool",
 * of the default pools' size or, for an unspecified base (`0.0.0.0/24`, `::/96`), of the size asked for.
 */
export type PoolRequest =
  | { kind: 'explicit'; addressSpace: string; family: IpFamily; pool: Cidr; subPool: Cidr | undefined }
  | { kind: 'auto'; addressSpace: string; family: IpFamily; size?: number };

export function readPoolRequest(req: RequestPoolRequest): PoolRequest {
  checkAddressSpace(req.AddressSpace);
  const family: IpFamily = req.V6 ? 6 : 4;
  const poolText = req.Pool ?? '';
  const subPoolText = req.SubPool ?? '';
  if (poolText === '') {
    if (subPoolText !== '') {
      throw new IpamError(`sub-pool ${subPoolText} given without a pool: an --ip-range needs a --subnet`);
    }
    return { kind: 'auto', addressSpace: req.AddressSpace, family };
  }
  const pool = readNetwork('pool', poolText, family);
  if (pool.prefix < LARGEST_POOL_PREFIX[family]) {
    throw new IpamError(
      `pool ${poolText} is too large: ${familyName(family)} pools must be /${LARGEST_POOL_PREFIX[family]} or smaller`,
    );
  }
  // Docker 29 lets `--subnet 0.0.0.0/24` (or `::/96`, or `/24`) ask its own IPAM for any free subnet of
  // that size, and passes the unspecified base on to other IPAMs as it is: the same request here.
  if (pool.network === 0n) {
    checkNotTooSmall(poolText, pool);
    if (subPoolText !== '') {
      throw new IpamError(
        `sub-pool ${subPoolText} given with pool ${poolText}, which asks for any free /${pool.prefix}: an --ip-range needs an explicit --subnet`,
      );
    }
    return { kind: 'auto', addressSpace: req.AddressSpace, family, size: pool.prefix };
  }
  const special = specialRangeOf(pool);
  if (special) throw new IpamError(`pool ${poolText} overlaps ${special}, which no network may use`);
  checkNotTooSmall(poolText, pool);
  const subPool = subPoolText === '' ? undefined : readNetwork('sub-pool', subPoolText, family);
  if (subPool && !cidrWithin(subPool, pool)) {
    throw new IpamError(`sub-pool ${subPoolText} is not inside pool ${poolText}`);
  }
  return { kind: 'explicit', addressSpace: req.AddressSpace, family, pool, subPool };
}

function checkNotTooSmall(poolText: string, pool: Cidr): void {
  const smallest = SMALLEST_POOL_PREFIX[pool.family];
  if (pool.prefix > smallest) {
    throw new IpamError(`pool ${poolText} is too small: ${familyName(pool.family)} pools must be /${smallest} or larger`);
  }
}

/** Parses a CIDR that must be a network address of the requested family. */
function readNetwork(what: string, text: string, family: IpFamily): Cidr {
  const parsed = parseCidr(text);
  if (!parsed) throw new IpamError(`invalid ${what} "${text}": expected a CIDR such as 10.1.0.0/16 or fd00:1::/64`);
  const { cidr, address } = parsed;
  if (cidr.family !== family) {
    throw new IpamError(
      `${what} ${text} is ${familyName(cidr.family)} but the request is for ${familyName(family)} (V6 ${family === 6})`,
    );
  }
  if (address !== cidr.network) {
    throw new IpamError(`invalid ${what} ${text}: it should be ${formatCidr(cidr)} (host bits must be zero)`);
  }
  return cidr;
}
