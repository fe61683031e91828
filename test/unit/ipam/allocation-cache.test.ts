// The bitmap allocation state (src/ipam/allocation-cache.ts) answers the serial search exactly as
// PoolLayout.nextFree over a Set does, for any pool, subpool, taken set and cursor.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCidr } from '../../../src/ipam/address';
import { AllocationBitmap } from '../../../src/ipam/allocation-cache';
import { PoolLayout } from '../../../src/ipam/pool';

describe('ipam: allocation bitmap', () => {
  it('nextFree agrees with PoolLayout.nextFree over a Set (fast-check, fixed seed)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 14, max: 30 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.option(fc.nat()),
        fc.boolean(),
        fc.boolean(),
        (prefix, subExtra, takenRaw, afterRaw, useSub, dense) => {
          const pool = parseCidr(`10.64.0.0/${prefix}`)!.cidr;
          const size = 2 ** (32 - prefix);
          const subPrefix = Math.min(30, prefix + subExtra);
          const subSize = 2 ** (32 - subPrefix);
          const subOffset = useSub ? Math.floor((takenRaw[0] ?? 0) % (size / subSize)) * subSize : 0;
          const range = useSub ? { family: 4 as const, network: pool.network + BigInt(subOffset), prefix: subPrefix } : pool;
          const layout = new PoolLayout(pool, range);
          const bitmap = new AllocationBitmap({ network: pool.network, size: BigInt(size) });
          const set = new Set<bigint>();
          const take = (o: number) => {
            const v = pool.network + BigInt(o % size);
            bitmap.add(v);
            set.add(v);
          };
          for (const t of takenRaw) take(t);
          // Dense: the whole range but one or two addresses taken, so that the search has to wrap.
          if (dense) for (let o = 0; o < Math.min(size, 4096); o++) if (o % 97 !== 5) take(subOffset + o);
          const after = afterRaw === null ? undefined : pool.network + BigInt(afterRaw % (size + 4)) - 2n;
          assert.equal(bitmap.nextFree(layout, after), layout.nextFree((v) => set.has(v), after));
          for (const v of set) assert.ok(bitmap.has(v));
          const [someTaken] = set;
          if (someTaken !== undefined) {
            bitmap.delete(someTaken);
            set.delete(someTaken);
            assert.equal(bitmap.has(someTaken), false);
            assert.equal(bitmap.nextFree(layout, after), layout.nextFree((v) => set.has(v), after));
          }
        },
      ),
      { seed: 0x7473_6e65, numRuns: 300 },
    );
  });

  it('a /8 costs 8 KiB per 65,536-address chunk touched, not memory per address', () => {
    const pool = parseCidr('10.0.0.0/8')!.cidr;
    const bitmap = new AllocationBitmap({ network: pool.network, size: 1n << 24n });
    const layout = new PoolLayout(pool, pool);
    let cursor: bigint | undefined;
    for (let i = 0; i < 200_000; i++) {
      cursor = bitmap.nextFree(layout, cursor)!;
      bitmap.add(cursor);
    }
    assert.equal(cursor, pool.network + 200_000n);
    assert.equal((bitmap as unknown as { chunks: unknown[] }).chunks.filter(Boolean).length, 4);
  });
});
