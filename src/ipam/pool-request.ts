import type { RequestPoolRequest } from '../protocol';
import { cidrWithin, familyName, formatCidr, parseCidr, type Cidr, type IpFamily } from './address';
import { checkAddressSpace } from './address-space';
import { IpamError } from './ipam-error';
import { SMALLEST_POOL_PREFIX } from './pool';
import { LARGEST_POOL_PREFIX, specialRangeOf } from './special-ranges';

/** A RequestPool checked and parsed: either an explicit CIDR (with an optional range) or "any free pool". */
export type PoolRequest =
  | { kind: 'explicit'; addressSpace: string; family: IpFamily; pool: Cidr; subPool: Cidr | undefined }
  | { kind: 'auto'; addressSpace: string; family: IpFamily };

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
  const special = specialRangeOf(pool);
  if (special) throw new IpamError(`pool ${poolText} overlaps ${special}, which no network may use`);
  if (pool.prefix > SMALLEST_POOL_PREFIX[family]) {
    throw new IpamError(
      `pool ${poolText} is too small: ${familyName(family)} pools must be /${SMALLEST_POOL_PREFIX[family]} or larger`,
    );
  }
  const subPool = subPoolText === '' ? undefined : readNetwork('sub-pool', subPoolText, family);
  if (subPool && !cidrWithin(subPool, pool)) {
    throw new IpamError(`sub-pool ${subPoolText} is not inside pool ${poolText}`);
  }
  return { kind: 'explicit', addressSpace: req.AddressSpace, family, pool, subPool };
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
