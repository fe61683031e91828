import type { Store } from '../store/store';
import type { IpFamily } from './address';
import { addressKeyPrefix, addressOfKey } from './keys';

/**
 * In-memory mirror of the addresses allocated in each pool, read from the store once per pool. The
 * store stays the truth; this only spares a store scan on every serial allocation. Callers update it
 * after their transaction has committed.
 */
export class AllocationCache {
  private readonly byPool = new Map<string, Set<bigint>>();

  constructor(private readonly store: Store) {}

  of(poolId: string, family: IpFamily): Set<bigint> {
    let allocated = this.byPool.get(poolId);
    if (!allocated) {
      allocated = new Set();
      for (const [key] of this.store.range(addressKeyPrefix(poolId))) {
        const value = addressOfKey(poolId, family, key);
        if (value !== undefined) allocated.add(value);
      }
      this.byPool.set(poolId, allocated);
    }
    return allocated;
  }

  forget(poolId: string): void {
    this.byPool.delete(poolId);
  }
}
