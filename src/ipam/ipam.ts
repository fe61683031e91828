import type { DefaultPoolSetting } from '../config/settings';
import type { Logger } from '../log';
import {
  GATEWAY_ADDRESS_TYPE,
  REQUEST_ADDRESS_TYPE,
  type RequestAddressRequest,
  type RequestAddressResponse,
  type RequestPoolRequest,
  type RequestPoolResponse,
} from '../protocol';
import type { Store, Tx } from '../store/store';
import { addressHex, cidrsOverlap, familyName, formatCidr, formatIp, type Cidr, type IpFamily } from './address';
import { parseAddressText, readRequestedAddress } from './address-request';
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from './address-space';
import { AllocationCache } from './allocation-cache';
import {
  DEFAULT_POOLS6,
  describeDefaultPools,
  findFreeSubnet,
  poolsHolding,
  readDefaultPools,
  type DefaultPool,
} from './default-pools';
import { readHostNetworks } from './host-networks';
import { IpamError } from './ipam-error';
import { addressKey, addressKeyPrefix, addressOfKey, poolIdOfKey, poolKey, POOLS_PREFIX } from './keys';
import { PoolLayout, poolIdOf, type StoredAddress, type StoredPool } from './pool';
import { readPoolRequest, type PoolRequest } from './pool-request';

export { IpamError } from './ipam-error';
export { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from './address-space';

export interface IpamOptions {
  /** Candidate IPv4 pools for requests without a Pool, in order. */
  defaultPools: DefaultPoolSetting[];
  /** Candidate IPv6 pools; DEFAULT_POOLS6 when absent. */
  defaultPools6?: DefaultPoolSetting[];
  /** CIDRs of the host's addresses and routes; automatic pools must not overlap them (a /0 is ignored). */
  hostNetworks: () => Promise<string[]>;
  log: Logger;
}

export interface PoolView {
  id: string;
  addressSpace: string;
  pool: string;
  subPool: string;
  v6: boolean;
  refs: number;
  auto: boolean;
}

/**
 * The IPAM driver's logic: pools and addresses in two address spaces, all state in the store.
 * Address calls run inside one write transaction each, atomic in Node's single thread: committed on its
 * own before it returns (requestAddress), or in a group commit with the other calls in flight, settling
 * once that commit is on disk (requestAddressGrouped, the plugin socket's path). Pool requests only
 * await the host's networks before their own synchronous transaction.
 */
export class Ipam {
  private readonly defaults: Record<IpFamily, DefaultPool[]>;
  private readonly allocations: AllocationCache;
  /** Parsed layouts by pool text, dropped with their pool (a few hundred bytes each). */
  private readonly layouts = new Map<string, PoolLayout>();

  constructor(
    private readonly store: Store,
    private readonly opts: IpamOptions,
  ) {
    this.defaults = {
      4: readDefaultPools(opts.defaultPools, 4, 'default pools'),
      6: readDefaultPools(opts.defaultPools6 ?? DEFAULT_POOLS6, 6, 'default IPv6 pools'),
    };
    this.allocations = new AllocationCache(store);
  }

  getDefaultAddressSpaces(): { LocalDefaultAddressSpace: string; GlobalDefaultAddressSpace: string } {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    const request = readPoolRequest(req);
    if (request.kind === 'explicit') return this.store.transact((tx) => this.holdExplicitPool(tx, request));
    const hostNetworks = readHostNetworks(await this.opts.hostNetworks(), request.family, this.opts.log);
    return this.store.transact((tx) => this.createAutoPool(tx, request, hostNetworks));
  }

  releasePool(poolId: string): { released: boolean } {
    let deletedRecord: StoredPool | undefined;
    const outcome = this.store.transact((tx) => {
      const record = tx.get<StoredPool>(poolKey(poolId));
      if (!record) return 'unknown';
      if (record.refs > 1) {
        tx.put(poolKey(poolId), { ...record, refs: record.refs - 1 });
        return 'dropped';
      }
      const family = PoolLayout.of(record).family;
      tx.del(poolKey(poolId));
      for (const [key] of tx.range(addressKeyPrefix(poolId))) {
        if (addressOfKey(poolId, family, key) !== undefined) tx.del(key);
      }
      deletedRecord = record;
      return 'deleted';
    });
    if (outcome === 'deleted') {
      this.allocations.forget(poolId);
      // Another pool with the same text parses it again; the cache holds no more layouts than pools.
      if (deletedRecord) this.layouts.delete(layoutKey(deletedRecord));
    }
    if (outcome !== 'unknown') this.opts.log.info('ipam pool released', { poolId, deleted: outcome === 'deleted' });
    return { released: outcome !== 'unknown' };
  }

  /** RequestAddress committed on its own before it returns (tests, tools). */
  requestAddress(req: RequestAddressRequest): RequestAddressResponse {
    return this.store.transact((tx) => this.requestAddressIn(tx, req));
  }

  /** RequestAddress in the next group commit: settles once it is on disk (the plugin socket's path). */
  requestAddressGrouped(req: RequestAddressRequest): Promise<RequestAddressResponse> {
    return this.store.transactGrouped((tx) => this.requestAddressIn(tx, req));
  }

  /** ReleaseAddress committed on its own before it returns (tests, the leak collector). */
  releaseAddress(poolId: string, address: string): { released: boolean } {
    return this.store.transact((tx) => this.releaseAddressIn(tx, poolId, address));
  }

  /** ReleaseAddress in the next group commit: settles once it is on disk (the plugin socket's path). */
  releaseAddressGrouped(poolId: string, address: string): Promise<{ released: boolean }> {
    return this.store.transactGrouped((tx) => this.releaseAddressIn(tx, poolId, address));
  }

  private requestAddressIn(tx: Tx, req: RequestAddressRequest): RequestAddressResponse {
    const poolId = req.PoolID;
    const isGateway = req.Options?.[REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE;
    const requested = req.Address ?? '';
    const record = tx.get<StoredPool>(poolKey(poolId));
    if (!record) throw new IpamError(`unknown pool ID "${poolId}"`);
    const layout = this.layoutOf(record);
    const allocated = this.allocations.of(poolId, layout);
    let value: bigint;
    if (requested !== '') {
      value = readRequestedAddress(poolId, layout, requested);
      if (allocated.has(value)) {
        // Swarm's allocator replays its allocations on a new leader; they must succeed.
        if (record.addressSpace === GLOBAL_ADDRESS_SPACE) return { Address: layout.withPrefix(value), Data: {} };
        throw new IpamError(`address ${formatIp(layout.family, value)} is already allocated in pool ${poolId}`);
      }
      const held: StoredAddress = { kind: isGateway ? 'gateway' : 'requested' };
      tx.put(addressKey(poolId, layout.family, value), held);
    } else {
      // The gateway takes the first free address; endpoints continue after the last one handed out, so
      // an address just released is not given straight to the next container.
      const cursor = record.cursor === null ? undefined : BigInt(`0x${record.cursor}`);
      const free = isGateway ? allocated.nextFree(layout) : allocated.nextFree(layout, cursor);
      if (free === undefined) throw new IpamError(`no available addresses in pool ${poolId}`);
      value = free;
      const held: StoredAddress = { kind: isGateway ? 'gateway' : 'serial' };
      tx.put(addressKey(poolId, layout.family, value), held);
      if (!isGateway) tx.put(poolKey(poolId), { ...record, cursor: addressHex(layout.family, value) });
    }
    // Within the transaction, so that the next write of a group commit sees it; undone if it does not commit.
    allocated.add(value);
    tx.onAbort(() => allocated.delete(value));
    return { Address: layout.withPrefix(value), Data: {} };
  }

  private releaseAddressIn(tx: Tx, poolId: string, address: string): { released: boolean } {
    const record = tx.get<StoredPool>(poolKey(poolId));
    if (!record) return { released: false };
    const layout = this.layoutOf(record);
    const ip = parseAddressText(address, layout);
    const allocated = this.allocations.of(poolId, layout);
    if (!ip || ip.family !== layout.family || !allocated.has(ip.value)) return { released: false };
    tx.del(addressKey(poolId, layout.family, ip.value));
    allocated.delete(ip.value);
    tx.onAbort(() => allocated.add(ip.value));
    return { released: true };
  }

  /** A pool record's layout, parsed once per pool and subpool text. */
  private layoutOf(record: StoredPool): PoolLayout {
    const key = layoutKey(record);
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = PoolLayout.of(record);
      this.layouts.set(key, layout);
    }
    return layout;
  }

  listPools(): PoolView[] {
    return this.store.range<StoredPool>(POOLS_PREFIX).map(([key, record]) => viewOf(poolIdOfKey(key), record));
  }

  /** The allocated addresses of a pool (bare IPs, in address order); [] for an unknown pool. */
  allocated(poolId: string): string[] {
    const record = this.store.get<StoredPool>(poolKey(poolId));
    if (!record) return [];
    const family = PoolLayout.of(record).family;
    const out: string[] = [];
    for (const [key] of this.store.range(addressKeyPrefix(poolId))) {
      const value = addressOfKey(poolId, family, key);
      if (value !== undefined) out.push(formatIp(family, value));
    }
    return out;
  }

  private holdExplicitPool(tx: Tx, request: Extract<PoolRequest, { kind: 'explicit' }>): RequestPoolResponse {
    const { addressSpace, family, pool, subPool } = request;
    const poolId = poolIdOf(addressSpace, pool, subPool);
    const existing = tx.get<StoredPool>(poolKey(poolId));
    // Only Swarm's allocator asks for the same pool again (a new leader replays its allocations); in the
    // local space a second network on the same subnet would route half its traffic to the wrong bridge.
    if (existing && addressSpace === LOCAL_ADDRESS_SPACE) {
      throw new IpamError(`${POOL_OVERLAP}: pool ${describePool(existing.pool, existing.subPool)} is already in use in address space ${addressSpace}`);
    }
    if (existing) {
      tx.put(poolKey(poolId), { ...existing, refs: existing.refs + 1 });
      this.opts.log.info('ipam pool held again', { poolId, refs: existing.refs + 1 });
      return { PoolID: poolId, Pool: existing.pool, Data: {} };
    }
    const [clash] = storedPools(tx)
      .filter((p) => p.record.addressSpace === addressSpace && cidrsOverlap(p.layout.pool, pool))
      .sort((a, b) => (a.layout.pool.network < b.layout.pool.network ? -1 : 1));
    if (clash) {
      const asked = describePool(formatCidr(pool), subPool ? formatCidr(subPool) : '');
      const inUse = describePool(clash.record.pool, clash.record.subPool);
      throw new IpamError(`${POOL_OVERLAP}: pool ${asked} overlaps ${inUse} already in use in address space ${addressSpace}`);
    }
    return this.createPool(tx, poolId, { addressSpace, family, pool, subPool, auto: false });
  }

  private createAutoPool(
    tx: Tx,
    request: Extract<PoolRequest, { kind: 'auto' }>,
    hostNetworks: Cidr[],
  ): RequestPoolResponse {
    const { addressSpace, family, size } = request;
    // Auto pools avoid every tsnet pool, in either address space: Docker asks again when it dislikes a
    // pool and releases the rejected ones only afterwards, so each auto request must get a new one.
    if (this.defaults[family].length === 0) {
      throw new IpamError(`no default ${familyName(family)} pools are configured: give the network a subnet`);
    }
    const defaults = this.defaults[family];
    if (size !== undefined && poolsHolding(defaults, size).length === 0) {
      throw new IpamError(
        `no default ${familyName(family)} pool can hold a /${size}: the default pools are ${describeDefaultPools(defaults)}`,
      );
    }
    const taken = [...storedPools(tx).map((p) => p.layout.pool), ...hostNetworks];
    const pool = findFreeSubnet(defaults, taken, size);
    if (!pool) {
      const candidates = describeDefaultPools(size === undefined ? defaults : poolsHolding(defaults, size));
      throw new IpamError(
        `no available ${familyName(family)} pool: every subnet of the default pools (${candidates}) overlaps a tsnet pool or a host network`,
      );
    }
    return this.createPool(tx, poolIdOf(addressSpace, pool, undefined), { addressSpace, family, pool, auto: true });
  }

  private createPool(
    tx: Tx,
    poolId: string,
    spec: { addressSpace: string; family: IpFamily; pool: Cidr; subPool?: Cidr; auto: boolean },
  ): RequestPoolResponse {
    const record: StoredPool = {
      addressSpace: spec.addressSpace,
      pool: formatCidr(spec.pool),
      subPool: spec.subPool ? formatCidr(spec.subPool) : '',
      v6: spec.family === 6,
      refs: 1,
      auto: spec.auto,
      cursor: null,
    };
    tx.put(poolKey(poolId), record);
    this.opts.log.info('ipam pool created', { poolId, auto: spec.auto });
    return { PoolID: poolId, Pool: record.pool, Data: {} };
  }
}

/** Docker's own IPAM's words for an overlapping pool, which scripts and tools look for. */
const POOL_OVERLAP = 'Pool overlaps with other one on this address space';

function storedPools(tx: Tx): Array<{ record: StoredPool; layout: PoolLayout }> {
  return tx.range<StoredPool>(POOLS_PREFIX).map(([, record]) => ({ record, layout: PoolLayout.of(record) }));
}

function describePool(pool: string, subPool: string): string {
  return subPool ? `${pool} (ip-range ${subPool})` : pool;
}

function viewOf(id: string, record: StoredPool): PoolView {
  const { addressSpace, pool, subPool, v6, refs, auto } = record;
  return { id, addressSpace, pool, subPool, v6, refs, auto };
}

function layoutKey(record: StoredPool): string {
  return `${record.pool} ${record.subPool}`;
}
