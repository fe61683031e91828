import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cidrsOverlap, formatCidr, formatIp, parseCidr, type Cidr, type IpFamily } from '../../../src/ipam/address';
import { GLOBAL_ADDRESS_SPACE, IpamError, LOCAL_ADDRESS_SPACE } from '../../../src/ipam/ipam';
import { GATEWAY, IpamFixture } from '../../lab';

/**
 * Model-based properties: a tiny model of one pool, kept as plain number offsets from the pool's
 * first address, predicts every reply exactly; independent invariants are checked on top.
 */
const SEED = 0x7473_6e65;

interface PoolScenario {
  family: IpFamily;
  space: string;
  prefix: number;
  base: bigint;
  /** The sub-pool as offsets [first, last] within the pool, if any. */
  sub: { prefix: number; first: number } | undefined;
}

type Command =
  | { op: 'serial' }
  | { op: 'gateway' }
  /** `spot` picks an offset from two below the pool to two above it. */
  | { op: 'explicit'; spot: number; kind: 'gateway' | 'aux' | 'endpoint' }
  | { op: 'release'; pick: number }
  | { op: 'releaseUnheld'; spot: number }
  | { op: 'restart' };

const scenarioArb: fc.Arbitrary<PoolScenario> = fc
  .record({
    family: fc.constantFrom<IpFamily>(4, 6),
    space: fc.constantFrom(LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE),
    hostBits: fc.integer({ min: 2, max: 6 }),
    raw: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    sub: fc.option(fc.record({ extraBits: fc.integer({ min: 0, max: 2 }), pick: fc.nat() }), { nil: undefined }),
  })
  .map(({ family, space, hostBits, raw, sub }) => {
    const bits = family === 4 ? 32 : 128;
    const prefix = bits - hostBits;
    // Pools inside 10.0.0.0/8 (IPv4) or fd00::/8 (IPv6): anywhere else may be a range no network may use
    // (unspecified, loopback, link-local, multicast: special-ranges.ts, tested on its own).
    const inside = family === 4 ? { net: 0x0a000000n, bits: 24 } : { net: 0xfdn << 120n, bits: 120 };
    const base = ((raw & ((1n << BigInt(inside.bits)) - 1n)) | inside.net) >> BigInt(hostBits) << BigInt(hostBits);
    const subPrefix = sub ? Math.min(prefix + sub.extraBits, bits - 1) : prefix;
    const subCount = 1 << (subPrefix - prefix);
    const subSize = 1 << (bits - subPrefix);
    return {
      family,
      space,
      prefix,
      base,
      sub: sub ? { prefix: subPrefix, first: (sub.pick % subCount) * subSize } : undefined,
    };
  });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Command>({ op: 'serial' }) },
  { weight: 1, arbitrary: fc.constant<Command>({ op: 'gateway' }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('explicit' as const),
      spot: fc.nat(),
      kind: fc.constantFrom('gateway' as const, 'aux' as const, 'endpoint' as const),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('releaseUnheld' as const), spot: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant<Command>({ op: 'restart' }) },
);

/** What the IPAM should hold for one pool, in offsets from the pool's first address. */
class PoolModel {
  readonly held = new Map<number, 'gateway' | 'aux' | 'endpoint'>();
  cursor: number | undefined;
  readonly size: number;
  readonly rangeFirst: number;
  readonly rangeLast: number;

  constructor(readonly sc: PoolScenario) {
    const bits = sc.family === 4 ? 32 : 128;
    this.size = 1 << (bits - sc.prefix);
    this.rangeFirst = sc.sub?.first ?? 0;
    this.rangeLast = sc.sub ? sc.sub.first + (1 << (bits - sc.sub.prefix)) - 1 : this.size - 1;
  }

  reservedRole(offset: number): string | undefined {
    if (offset === 0) return this.sc.family === 4 ? 'network address' : 'subnet-router anycast address';
    if (this.sc.family === 4 && offset === this.size - 1) return 'broadcast address';
    return undefined;
  }

  nextFree(after: number | undefined): number | undefined {
    const span = this.rangeLast - this.rangeFirst + 1;
    let candidate = after !== undefined && after >= this.rangeFirst && after < this.rangeLast ? after + 1 : this.rangeFirst;
    for (let i = 0; i < span; i++) {
      if (!this.reservedRole(candidate) && !this.held.has(candidate)) return candidate;
      candidate = candidate === this.rangeLast ? this.rangeFirst : candidate + 1;
    }
    return undefined;
  }

  ip(offset: number): string {
    return formatIp(this.sc.family, this.sc.base + BigInt(offset));
  }

  heldSorted(): string[] {
    return [...this.held.keys()].sort((a, b) => a - b).map((o) => this.ip(o));
  }
}

function outcome(fn: () => { Address: string }): { address: string } | { error: string } {
  try {
    return { address: fn().Address };
  } catch (err) {
    if (!(err instanceof IpamError)) throw err;
    return { error: err.message };
  }
}

describe('ipam properties', function () {
  this.timeout(15_000);

  it('predicts every address reply; never hands out an address twice, outside its range, or a reserved one', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.array(commandArb, { maxLength: 60, size: 'max' }), async (sc, commands) => {
        const fx = new IpamFixture();
        try {
          const model = new PoolModel(sc);
          const poolCidr = `${formatIp(sc.family, sc.base)}/${sc.prefix}`;
          const subCidr = sc.sub ? `${model.ip(sc.sub.first)}/${sc.sub.prefix}` : '';
          const { PoolID } = await fx.ipam.requestPool({ AddressSpace: sc.space, Pool: poolCidr, SubPool: subCidr, V6: sc.family === 6 });
          const withPrefix = (offset: number) => ({ address: `${model.ip(offset)}/${sc.prefix}` });
          const exhausted = { error: `no available addresses in pool ${PoolID}` };

          for (const command of commands) {
            switch (command.op) {
              case 'serial':
              case 'gateway': {
                const isGateway = command.op === 'gateway';
                const got = outcome(() => fx.ipam.requestAddress({ PoolID, Address: '', Options: isGateway ? GATEWAY : null }));
                const expected = model.nextFree(isGateway ? undefined : model.cursor);
                if (expected === undefined) {
                  assert.deepEqual(got, exhausted);
                  break;
                }
                assert.deepEqual(got, withPrefix(expected));
                // Invariants, independent of the model's choice: new, inside the range, not reserved.
                assert.equal(model.held.has(expected), false);
                assert.ok(expected >= model.rangeFirst && expected <= model.rangeLast);
                assert.equal(model.reservedRole(expected), undefined);
                model.held.set(expected, isGateway ? 'gateway' : 'endpoint');
                if (!isGateway) model.cursor = expected;
                break;
              }
              case 'explicit': {
                const offset = (command.spot % (model.size + 4)) - 2;
                const value = sc.base + BigInt(offset);
                if (value < 0n || value >= 1n << BigInt(sc.family === 4 ? 32 : 128)) break;
                const text = formatIp(sc.family, value);
                const options = command.kind === 'gateway' ? GATEWAY : null;
                const got = outcome(() => fx.ipam.requestAddress({ PoolID, Address: text, Options: options }));
                const role = model.reservedRole(offset);
                if (offset < 0 || offset >= model.size) {
                  assert.deepEqual(got, { error: `address ${text} is outside pool ${poolCidr}` });
                } else if (role) {
                  assert.deepEqual(got, { error: `address ${text} is the ${role} of pool ${poolCidr}` });
                } else if (model.held.has(offset) && sc.space === LOCAL_ADDRESS_SPACE) {
                  assert.deepEqual(got, { error: `address ${text} is already allocated in pool ${PoolID}` });
                } else {
                  assert.deepEqual(got, withPrefix(offset));
                  if (!model.held.has(offset)) model.held.set(offset, command.kind);
                }
                break;
              }
              case 'release': {
                // Only endpoint addresses are released, so gateways and aux addresses stay held throughout.
                const endpoints = [...model.held].filter(([, kind]) => kind === 'endpoint').map(([offset]) => offset);
                if (endpoints.length === 0) break;
                const offset = endpoints[command.pick % endpoints.length]!;
                assert.deepEqual(fx.ipam.releaseAddress(PoolID, model.ip(offset)), { released: true });
                model.held.delete(offset);
                break;
              }
              case 'releaseUnheld': {
                const offset = command.spot % model.size;
                if (model.held.has(offset)) break;
                assert.deepEqual(fx.ipam.releaseAddress(PoolID, model.ip(offset)), { released: false });
                break;
              }
              case 'restart':
                await fx.reopen();
                break;
            }
            assert.deepEqual(fx.ipam.allocated(PoolID), model.heldSorted());
          }
        } finally {
          await fx.dispose();
        }
      }),
      { seed: SEED, numRuns: 80 },
    );
  });

  it('gives automatic pools that overlap no live pool and no host network, and refuses overlaps within a space', async () => {
    const base = parseCidr('10.200.0.0/20')!.cidr;
    const candidates: Cidr[] = Array.from({ length: 16 }, (_, i) => ({ family: 4, network: base.network + BigInt(i * 256), prefix: 24 }));
    const cidrArb = fc
      .record({ third: fc.integer({ min: 0, max: 31 }), prefix: fc.integer({ min: 20, max: 28 }) })
      .map(({ third, prefix }) => parseCidr(`10.200.${third}.0/${prefix}`)!.cidr);
    const stepArb = fc.oneof(
      fc.record({ op: fc.constant('auto' as const), space: fc.constantFrom(LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE) }),
      fc.record({ op: fc.constant('explicit' as const), space: fc.constantFrom(LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE), cidr: cidrArb }),
      fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
    );

    await fc.assert(
      fc.asyncProperty(fc.array(cidrArb, { maxLength: 4 }), fc.array(stepArb, { maxLength: 30, size: 'max' }), async (hostNets, steps) => {
        const fx = new IpamFixture({ defaultPools: [{ base: '10.200.0.0/20', size: 24 }] });
        try {
          fx.hostNetworks = hostNets.map((c) => `${formatIp(4, c.network + 1n)}/${c.prefix}`);
          const live = new Map<string, { space: string; cidr: Cidr; refs: number }>();
          for (const step of steps) {
            if (step.op === 'release') {
              const ids = [...live.keys()];
              if (ids.length === 0) continue;
              const id = ids[step.pick % ids.length]!;
              assert.deepEqual(fx.ipam.releasePool(id), { released: true });
              const held = live.get(id)!;
              if (--held.refs === 0) live.delete(id);
              continue;
            }
            if (step.op === 'auto') {
              const expected = candidates.find(
                (c) => ![...live.values()].some((p) => cidrsOverlap(p.cidr, c)) && !hostNets.some((h) => cidrsOverlap(h, c)),
              );
              const request = fx.ipam.requestPool({ AddressSpace: step.space, Pool: '' });
              if (!expected) {
                await assert.rejects(request, IpamError);
                continue;
              }
              const reply = await request;
              assert.deepEqual(reply, { PoolID: `${step.space}/${formatCidr(expected)}`, Pool: formatCidr(expected), Data: {} });
              live.set(reply.PoolID, { space: step.space, cidr: expected, refs: 1 });
              continue;
            }
            const id = `${step.space}/${formatCidr(step.cidr)}`;
            const request = fx.ipam.requestPool({ AddressSpace: step.space, Pool: formatCidr(step.cidr) });
            // The same pool again: held once more in the global space (Swarm replays), refused in the local one.
            if (live.has(id) && step.space === LOCAL_ADDRESS_SPACE) {
              await assert.rejects(request, {
                message: `Pool overlaps with other one on this address space: pool ${formatCidr(step.cidr)} is already in use in address space ${step.space}`,
              });
              continue;
            }
            const [clash] = [...live]
              .filter(([other, p]) => other !== id && p.space === step.space && cidrsOverlap(p.cidr, step.cidr))
              .sort(([, a], [, b]) => (a.cidr.network < b.cidr.network ? -1 : 1));
            if (clash) {
              await assert.rejects(request, {
                message: `Pool overlaps with other one on this address space: pool ${formatCidr(step.cidr)} overlaps ${formatCidr(clash[1].cidr)} already in use in address space ${step.space}`,
              });
              continue;
            }
            assert.equal((await request).PoolID, id);
            const held = live.get(id);
            if (held) held.refs += 1;
            else live.set(id, { space: step.space, cidr: step.cidr, refs: 1 });
          }
          const views = fx.ipam.listPools();
          assert.deepEqual(
            views.map((v) => [v.id, v.refs]),
            [...live].map(([id, p]) => [id, p.refs]).sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)),
          );
          // Within each space no two pools overlap, whatever happened.
          for (const a of views) {
            for (const b of views) {
              if (a.id !== b.id && a.addressSpace === b.addressSpace) {
                assert.equal(cidrsOverlap(parseCidr(a.pool)!.cidr, parseCidr(b.pool)!.cidr), false, `${a.id} / ${b.id}`);
              }
            }
          }
        } finally {
          await fx.dispose();
        }
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});
