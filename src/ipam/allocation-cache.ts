import type { Store } from '../store/store';
import { cidrSize, lastAddress, type IpFamily } from './address';
import { addressKeyPrefix, addressOfKey } from './keys';
import type { PoolLayout } from './pool';

/**
 * The addresses allocated in one pool, in memory: has/add/delete and the serial search. A mirror of
 * the store (which stays the truth), read from it once per pool.
 */
export interface AllocatedSet {
  has(value: bigint): boolean;
  add(value: bigint): void;
  delete(value: bigint): void;
  /** What layout.nextFree(isTaken, after) answers for this set, faster where it can. */
  nextFree(layout: PoolLayout, after?: bigint): bigint | undefined;
}

/** Addresses per bitmap chunk: 8 KiB of bits, allocated when an address in it is first taken. */
const CHUNK_BITS = 1 << 16;
/** Pools up to this many addresses (every IPv4 pool) get a bitmap; larger (IPv6) ones a Set. */
const BITMAP_MAX_ADDRESSES = 2n ** 32n;

/**
 * A pool's allocations as bits, one per address of the pool, in chunks of CHUNK_BITS made on first
 * use: memory grows by chunk (8 KiB per 65,536 addresses touched, 2 MiB for a full /8), not per
 * address, and the serial search skips 32 taken addresses per word.
 */
export class AllocationBitmap implements AllocatedSet {
  private readonly chunks: Array<Uint32Array | undefined> = [];
  private readonly base: bigint;
  private readonly size: number;
  private readonly chunkWords: number;

  constructor(pool: { network: bigint; size: bigint }) {
    this.base = pool.network;
    this.size = Number(pool.size);
    this.chunkWords = Math.ceil(Math.min(this.size, CHUNK_BITS) / 32);
  }

  has(value: bigint): boolean {
    const offset = this.offsetOf(value);
    if (offset === undefined) return false;
    const chunk = this.chunks[Math.floor(offset / CHUNK_BITS)];
    if (!chunk) return false;
    const bit = offset % CHUNK_BITS;
    return (chunk[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  add(value: bigint): void {
    const offset = this.offsetOf(value);
    if (offset === undefined) throw new Error(`address ${value} is outside the pool's bitmap`);
    const index = Math.floor(offset / CHUNK_BITS);
    const chunk = (this.chunks[index] ??= new Uint32Array(this.chunkWords));
    const bit = offset % CHUNK_BITS;
    chunk[bit >>> 5]! |= 1 << (bit & 31);
  }

  delete(value: bigint): void {
    const offset = this.offsetOf(value);
    if (offset === undefined) return;
    const chunk = this.chunks[Math.floor(offset / CHUNK_BITS)];
    if (!chunk) return;
    const bit = offset % CHUNK_BITS;
    chunk[bit >>> 5]! &= ~(1 << (bit & 31));
  }

  nextFree(layout: PoolLayout, after?: bigint): bigint | undefined {
    const first = layout.range.network;
    const last = lastAddress(layout.range);
    const start = after !== undefined && after >= first && after < last ? after + 1n : first;
    const f = Number(first - this.base);
    const l = Number(last - this.base);
    const s = Number(start - this.base);
    // The pool's network address, and its broadcast address in IPv4, are never handed out (layout.reservedRole).
    const reservedLast = layout.family === 4 ? this.size - 1 : -1;
    const found = this.firstFree(s, l, reservedLast) ?? (s > f ? this.firstFree(f, s - 1, reservedLast) : undefined);
    return found === undefined ? undefined : this.base + BigInt(found);
  }

  /** The first offset in [from, to] that is neither taken nor reserved. */
  private firstFree(from: number, to: number, reservedLast: number): number | undefined {
    let offset = from;
    while (offset <= to) {
      const chunk = this.chunks[Math.floor(offset / CHUNK_BITS)];
      const bit = offset % CHUNK_BITS;
      if (!chunk) {
        // A chunk never used is all free.
        if (offset !== 0 && offset !== reservedLast) return offset;
        offset++;
        continue;
      }
      const word = chunk[bit >>> 5]!;
      if (word === 0xffffffff && (bit & 31) === 0) {
        offset += 32;
        continue;
      }
      if ((word & (1 << (bit & 31))) === 0 && offset !== 0 && offset !== reservedLast) return offset;
      offset++;
    }
    return undefined;
  }

  private offsetOf(value: bigint): number | undefined {
    const offset = value - this.base;
    return offset >= 0n && offset < BigInt(this.size) ? Number(offset) : undefined;
  }
}

/** Pools too large for a bitmap (IPv6 beyond 2^32 addresses): a Set of what is taken. */
class AllocationSet implements AllocatedSet {
  private readonly set = new Set<bigint>();
  has = (value: bigint): boolean => this.set.has(value);
  add(value: bigint): void {
    this.set.add(value);
  }
  delete(value: bigint): void {
    this.set.delete(value);
  }
  nextFree(layout: PoolLayout, after?: bigint): bigint | undefined {
    return layout.nextFree(this.has, after);
  }
}

/**
 * In-memory mirror of the addresses allocated in each pool, read from the store once per pool. The
 * store stays the truth; this only spares a store scan on every serial allocation. Callers change it
 * inside their write transaction and register the undo with tx.onAbort, so that it never holds what
 * did not commit.
 */
export class AllocationCache {
  private readonly byPool = new Map<string, AllocatedSet>();

  constructor(private readonly store: Store) {}

  of(poolId: string, layout: PoolLayout): AllocatedSet {
    let allocated = this.byPool.get(poolId);
    if (!allocated) {
      const size = cidrSize(layout.pool);
      allocated = size <= BITMAP_MAX_ADDRESSES ? new AllocationBitmap({ network: layout.pool.network, size }) : new AllocationSet();
      const family: IpFamily = layout.family;
      for (const [key] of this.store.range(addressKeyPrefix(poolId))) {
        const value = addressOfKey(poolId, family, key);
        if (value !== undefined && layout.contains({ family, value })) allocated.add(value);
      }
      this.byPool.set(poolId, allocated);
    }
    return allocated;
  }

  forget(poolId: string): void {
    this.byPool.delete(poolId);
  }
}
