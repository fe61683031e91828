import assert from 'node:assert/strict';
import { GLOBAL_ADDRESS_SPACE, Ipam, LOCAL_ADDRESS_SPACE } from '../../../src/ipam/ipam';
import { IpamError } from '../../../src/ipam/ipam-error';
import { testLogger } from '../../../src/log';
import { assertIpamRejects, GATEWAY, IpamFixture } from '../../lab';

const LOCAL = LOCAL_ADDRESS_SPACE;
const GLOBAL = GLOBAL_ADDRESS_SPACE;

describe('ipam pools', () => {
  let fx: IpamFixture;
  beforeEach(() => {
    fx = new IpamFixture();
  });
  afterEach(async () => {
    await fx.dispose();
  });

  it('names the two address spaces', () => {
    assert.deepEqual(fx.ipam.getDefaultAddressSpaces(), {
      LocalDefaultAddressSpace: 'tsnet-local',
      GlobalDefaultAddressSpace: 'tsnet-global',
    });
  });

  describe('explicit pools', () => {
    it('reserves the pool under a readable ID', async () => {
      const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.99.0.0/24', SubPool: '', Options: {}, V6: false });
      assert.deepEqual(reply, { PoolID: 'tsnet-local/10.99.0.0/24', Pool: '10.99.0.0/24', Data: {} });
      assert.deepEqual(fx.ipam.listPools(), [
        { id: 'tsnet-local/10.99.0.0/24', addressSpace: LOCAL, pool: '10.99.0.0/24', subPool: '', v6: false, refs: 1, auto: false },
      ]);
    });

    it('puts the sub-pool in the ID', async () => {
      const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.99.0.0/24', SubPool: '10.99.0.128/25' });
      assert.deepEqual(reply, { PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.128/25', Pool: '10.99.0.0/24', Data: {} });
    });

    it('accepts missing SubPool, Options and V6 fields', async () => {
      const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.99.0.0/24' });
      assert.equal(reply.PoolID, 'tsnet-local/10.99.0.0/24');
    });

    it('refuses the same pool twice in the local space, with Docker\'s words (two networks on one subnet)', async () => {
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.71.0.0/24' });
      await assertIpamRejects(
        fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.71.0.0/24' }),
        'Pool overlaps with other one on this address space: pool 10.71.0.0/24 is already in use in address space tsnet-local',
      );
      await assertIpamRejects(
        fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.71.0.0/24', SubPool: '10.71.0.0/25' }),
        'Pool overlaps with other one on this address space: pool 10.71.0.0/24 (ip-range 10.71.0.0/25) overlaps 10.71.0.0/24 already in use in address space tsnet-local',
      );
      assert.deepEqual(fx.ipam.listPools().map((p) => [p.id, p.refs]), [['tsnet-local/10.71.0.0/24', 1]]);
    });

    it('counts identical requests in the global space (Swarm replays) and frees the pool only at the last release', async () => {
      const req = { AddressSpace: GLOBAL, Pool: '10.99.0.0/24', SubPool: '', Options: {}, V6: false };
      const first = await fx.ipam.requestPool(req);
      const second = await fx.ipam.requestPool(req);
      assert.deepEqual(second, first);
      assert.equal(fx.ipam.listPools()[0]!.refs, 2);
      fx.ipam.requestAddress({ PoolID: first.PoolID, Address: '', Options: GATEWAY });

      assert.deepEqual(fx.ipam.releasePool(first.PoolID), { released: true });
      assert.equal(fx.ipam.listPools()[0]!.refs, 1);
      assert.deepEqual(fx.ipam.allocated(first.PoolID), ['10.99.0.1']);

      assert.deepEqual(fx.ipam.releasePool(first.PoolID), { released: true });
      assert.deepEqual(fx.ipam.listPools(), []);
      assert.deepEqual(fx.ipam.allocated(first.PoolID), []);
      assert.deepEqual(fx.store.range('ipam/'), []);
      assert.deepEqual(fx.ipam.releasePool(first.PoolID), { released: false });
    });

    it('starts afresh when a released pool is requested again', async () => {
      const { PoolID } = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.99.0.0/24' });
      fx.ipam.requestAddress({ PoolID, Address: '' });
      fx.ipam.requestAddress({ PoolID, Address: '' });
      fx.ipam.releasePool(PoolID);
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.99.0.0/24' });
      assert.deepEqual(fx.ipam.requestAddress({ PoolID, Address: '' }), { Address: '10.99.0.1/24', Data: {} });
    });

    it('releasing an unknown pool is not an error', () => {
      assert.deepEqual(fx.ipam.releasePool('tsnet-local/10.1.0.0/16'), { released: false });
      assert.deepEqual(fx.ipam.releasePool(''), { released: false });
    });

    it('refuses a pool overlapping another in the same address space', async () => {
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.1.2.0/24' });
      await assertIpamRejects(
        fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.1.0.0/16' }),
        'Pool overlaps with other one on this address space: pool 10.1.0.0/16 overlaps 10.1.2.0/24 already in use in address space tsnet-local',
      );
      await assertIpamRejects(
        fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.1.2.0/24', SubPool: '10.1.2.0/25' }),
        'Pool overlaps with other one on this address space: pool 10.1.2.0/24 (ip-range 10.1.2.0/25) overlaps 10.1.2.0/24 already in use in address space tsnet-local',
      );
      assert.equal(fx.ipam.listPools().length, 1);
    });

    it('refuses pools larger than /8 (IPv4) or /16 (IPv6), and ranges no network may use', async () => {
      const refusals: Array<[string, boolean, string]> = [
        ['0.0.0.0/0', false, 'pool 0.0.0.0/0 is too large: IPv4 pools must be /8 or smaller'],
        ['10.0.0.0/7', false, 'pool 10.0.0.0/7 is too large: IPv4 pools must be /8 or smaller'],
        ['::/0', true, 'pool ::/0 is too large: IPv6 pools must be /16 or smaller'],
        ['fd00::/15', true, 'pool fd00::/15 is too large: IPv6 pools must be /16 or smaller'],
        ['0.1.0.0/24', false, 'pool 0.1.0.0/24 overlaps the unspecified range ("this network") 0.0.0.0/8, which no network may use'],
        ['127.0.0.0/8', false, 'pool 127.0.0.0/8 overlaps the loopback range 127.0.0.0/8, which no network may use'],
        ['127.1.0.0/16', false, 'pool 127.1.0.0/16 overlaps the loopback range 127.0.0.0/8, which no network may use'],
        ['169.254.0.0/24', false, 'pool 169.254.0.0/24 overlaps the link-local range 169.254.0.0/16, which no network may use'],
        ['224.1.0.0/16', false, 'pool 224.1.0.0/16 overlaps the multicast range 224.0.0.0/4, which no network may use'],
        ['::/128', true, 'pool ::/128 is too small: IPv6 pools must be /126 or larger'],
        ['::1/128', true, 'pool ::1/128 overlaps the loopback address ::1/128, which no network may use'],
        ['fe80::/64', true, 'pool fe80::/64 overlaps the link-local range fe80::/10, which no network may use'],
        ['ff02::/16', true, 'pool ff02::/16 overlaps the multicast range ff00::/8, which no network may use'],
      ];
      for (const [pool, v6, message] of refusals) {
        await assertIpamRejects(fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: pool, V6: v6 }), message);
      }
      assert.deepEqual(fx.ipam.listPools(), [], 'nothing held after a refusal');
      // The edges that are allowed.
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '11.0.0.0/8' });
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: 'fd00::/16', V6: true });
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '1.0.0.0/24' });
    });

    it('lets the global and the local space hold the same subnet under different IDs', async () => {
      const local = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.50.0.0/24' });
      const global = await fx.ipam.requestPool({ AddressSpace: GLOBAL, Pool: '10.50.0.0/24' });
      assert.deepEqual(local, { PoolID: 'tsnet-local/10.50.0.0/24', Pool: '10.50.0.0/24', Data: {} });
      assert.deepEqual(global, { PoolID: 'tsnet-global/10.50.0.0/24', Pool: '10.50.0.0/24', Data: {} });
      // Each space allocates on its own: Swarm's manager and the node both pick the same gateway.
      assert.equal(fx.ipam.requestAddress({ PoolID: global.PoolID, Address: '10.50.0.1', Options: GATEWAY }).Address, '10.50.0.1/24');
      assert.equal(fx.ipam.requestAddress({ PoolID: local.PoolID, Address: '10.50.0.1', Options: GATEWAY }).Address, '10.50.0.1/24');
    });

    it('holds an auto pool again when the same subnet is asked for explicitly', async () => {
      const auto = await fx.ipam.requestPool({ AddressSpace: GLOBAL, Pool: '' });
      const again = await fx.ipam.requestPool({ AddressSpace: GLOBAL, Pool: auto.Pool });
      assert.deepEqual(again, auto);
      assert.equal(fx.ipam.listPools()[0]!.refs, 2);
    });

    it('normalises IPv6 text', async () => {
      const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: 'FD00:0:0:1::/64', V6: true });
      assert.deepEqual(reply, { PoolID: 'tsnet-local/fd00:0:0:1::/64', Pool: 'fd00:0:0:1::/64', Data: {} });
    });
  });

  describe('request validation', () => {
    const cases: Array<[string, Parameters<Ipam['requestPool']>[0], string]> = [
      ['unknown address space', { AddressSpace: 'default', Pool: '10.0.0.0/24' }, 'unknown address space "default": tsnet serves tsnet-local and tsnet-global'],
      ['host bits set', { AddressSpace: LOCAL, Pool: '10.0.0.5/24' }, 'invalid pool 10.0.0.5/24: it should be 10.0.0.0/24 (host bits must be zero)'],
      ['malformed pool', { AddressSpace: LOCAL, Pool: '10.0.0/24' }, 'invalid pool "10.0.0/24": expected a CIDR such as 10.1.0.0/16 or fd00:1::/64'],
      ['bare address as pool', { AddressSpace: LOCAL, Pool: '10.0.0.0' }, 'invalid pool "10.0.0.0": expected a CIDR such as 10.1.0.0/16 or fd00:1::/64'],
      ['IPv4 /31', { AddressSpace: LOCAL, Pool: '10.0.0.0/31' }, 'pool 10.0.0.0/31 is too small: IPv4 pools must be /30 or larger'],
      ['IPv4 /32', { AddressSpace: LOCAL, Pool: '10.0.0.1/32' }, 'pool 10.0.0.1/32 is too small: IPv4 pools must be /30 or larger'],
      ['IPv6 /127', { AddressSpace: LOCAL, Pool: 'fd00::/127', V6: true }, 'pool fd00::/127 is too small: IPv6 pools must be /126 or larger'],
      ['IPv6 pool without V6', { AddressSpace: LOCAL, Pool: 'fd00::/64', V6: false }, 'pool fd00::/64 is IPv6 but the request is for IPv4 (V6 false)'],
      ['IPv4 pool with V6', { AddressSpace: LOCAL, Pool: '10.0.0.0/24', V6: true }, 'pool 10.0.0.0/24 is IPv4 but the request is for IPv6 (V6 true)'],
      ['sub-pool with an unspecified base', { AddressSpace: LOCAL, Pool: '0.0.0.0/24', SubPool: '0.0.0.0/25' }, 'sub-pool 0.0.0.0/25 given with pool 0.0.0.0/24, which asks for any free /24: an --ip-range needs an explicit --subnet'],
      ['unspecified base smaller than /30', { AddressSpace: LOCAL, Pool: '0.0.0.0/31' }, 'pool 0.0.0.0/31 is too small: IPv4 pools must be /30 or larger'],
      ['unspecified IPv6 base with V6 false', { AddressSpace: LOCAL, Pool: '::/96' }, 'pool ::/96 is IPv6 but the request is for IPv4 (V6 false)'],
      ['sub-pool without pool', { AddressSpace: LOCAL, Pool: '', SubPool: '10.0.0.0/25' }, 'sub-pool 10.0.0.0/25 given without a pool: an --ip-range needs a --subnet'],
      ['sub-pool outside pool', { AddressSpace: LOCAL, Pool: '10.0.0.0/24', SubPool: '10.0.1.0/25' }, 'sub-pool 10.0.1.0/25 is not inside pool 10.0.0.0/24'],
      ['sub-pool larger than pool', { AddressSpace: LOCAL, Pool: '10.0.0.0/24', SubPool: '10.0.0.0/23' }, 'sub-pool 10.0.0.0/23 is not inside pool 10.0.0.0/24'],
      ['sub-pool with host bits', { AddressSpace: LOCAL, Pool: '10.0.0.0/24', SubPool: '10.0.0.130/25' }, 'invalid sub-pool 10.0.0.130/25: it should be 10.0.0.128/25 (host bits must be zero)'],
      ['sub-pool of the other family', { AddressSpace: LOCAL, Pool: '10.0.0.0/24', SubPool: 'fd00::/64' }, 'sub-pool fd00::/64 is IPv6 but the request is for IPv4 (V6 false)'],
    ];
    for (const [name, req, message] of cases) {
      it(`refuses: ${name}`, async () => {
        await assertIpamRejects(fx.ipam.requestPool(req), message);
        assert.deepEqual(fx.ipam.listPools(), []);
      });
    }

    it('refuses bad default pool settings when constructed', () => {
      assert.throws(
        () => new Ipam(fx.store, { defaultPools: [{ base: '10.0.0.0/8', size: 4 }], hostNetworks: async () => [], log: testLogger() }),
        new IpamError('default pools: 10.0.0.0/8/4: size must be between /8 and /30'),
      );
      assert.throws(
        () => new Ipam(fx.store, { defaultPools: [], defaultPools6: [{ base: '10.0.0.0/8', size: 24 }], hostNetworks: async () => [], log: testLogger() }),
        new IpamError('default IPv6 pools: 10.0.0.0/8/24: expected an IPv6 base'),
      );
    });
  });

  describe('automatic pools', () => {
    it('hands out the default subnets in order, a new one for every request', async () => {
      const req = { AddressSpace: LOCAL, Pool: '', SubPool: '', Options: {}, V6: false };
      const first = await fx.ipam.requestPool(req);
      const second = await fx.ipam.requestPool(req);
      assert.deepEqual(first, { PoolID: 'tsnet-local/10.200.0.0/24', Pool: '10.200.0.0/24', Data: {} });
      assert.deepEqual(second, { PoolID: 'tsnet-local/10.200.1.0/24', Pool: '10.200.1.0/24', Data: {} });
      assert.deepEqual(fx.ipam.listPools().map((p) => [p.id, p.auto, p.refs]), [
        ['tsnet-local/10.200.0.0/24', true, 1],
        ['tsnet-local/10.200.1.0/24', true, 1],
      ]);
    });

    it('skips host networks, ignoring a default route and unparsable entries', async () => {
      fx.hostNetworks = ['0.0.0.0/0', '10.200.0.17/24', 'garbage', '10.200.1.0/25', 'fd00::1/64'];
      const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' });
      assert.equal(reply.Pool, '10.200.2.0/24');
    });

    it('skips pools of either address space and of any size', async () => {
      await fx.ipam.requestPool({ AddressSpace: GLOBAL, Pool: '10.200.0.0/23' });
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.200.2.128/25' });
      const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' });
      assert.equal(reply.Pool, '10.200.3.0/24');
    });

    it('reuses a subnet once its pool is released', async () => {
      const first = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' });
      await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' });
      fx.ipam.releasePool(first.PoolID);
      assert.equal((await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' })).Pool, '10.200.0.0/24');
    });

    it('reports exhaustion naming the default pools', async () => {
      fx.hostNetworks = ['10.200.0.0/16'];
      await assertIpamRejects(
        fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' }),
        'no available IPv4 pool: every subnet of the default pools (10.200.0.0/16 split into /24) overlaps a tsnet pool or a host network',
      );
    });

    it('uses Docker-style defaults across several bases', async () => {
      const docker = new IpamFixture({
        defaultPools: [
          { base: '172.17.0.0/16', size: 16 },
          { base: '172.20.0.0/14', size: 16 },
        ],
      });
      try {
        docker.hostNetworks = ['172.17.0.1/16', '172.21.5.0/24'];
        const pools = [];
        for (let i = 0; i < 3; i++) pools.push((await docker.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' })).Pool);
        assert.deepEqual(pools, ['172.20.0.0/16', '172.22.0.0/16', '172.23.0.0/16']);
        await assertIpamRejects(
          docker.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' }),
          'no available IPv4 pool: every subnet of the default pools (172.17.0.0/16 split into /16, 172.20.0.0/14 split into /16) overlaps a tsnet pool or a host network',
        );
      } finally {
        await docker.dispose();
      }
    });

    it('gives IPv6 networks /64s of the built-in ULA prefix', async () => {
      fx.hostNetworks = ['fd74:736e:6574::1/64'];
      const first = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '', V6: true });
      const second = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '', V6: true });
      assert.deepEqual(first, { PoolID: 'tsnet-local/fd74:736e:6574:1::/64', Pool: 'fd74:736e:6574:1::/64', Data: {} });
      assert.equal(second.Pool, 'fd74:736e:6574:2::/64');
      assert.equal(fx.ipam.listPools()[0]!.v6, true);
    });

    it('uses the configured IPv6 defaults', async () => {
      const custom = new IpamFixture({ defaultPools: [], defaultPools6: [{ base: 'fd12:3400::/40', size: 56 }] });
      try {
        assert.equal((await custom.ipam.requestPool({ AddressSpace: LOCAL, Pool: '', V6: true })).Pool, 'fd12:3400::/56');
        await assertIpamRejects(
          custom.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' }),
          'no default IPv4 pools are configured: give the network a subnet',
        );
      } finally {
        await custom.dispose();
      }
    });

    it('does not ask for host networks when the pool is explicit', async () => {
      let asked = 0;
      const ipam = new Ipam(fx.store, {
        defaultPools: [{ base: '10.200.0.0/16', size: 24 }],
        hostNetworks: async () => {
          asked += 1;
          return [];
        },
        log: testLogger(),
      });
      await ipam.requestPool({ AddressSpace: LOCAL, Pool: '10.1.0.0/24' });
      assert.equal(asked, 0);
      await ipam.requestPool({ AddressSpace: LOCAL, Pool: '' });
      assert.equal(asked, 1);
    });

    describe('an unspecified base (0.0.0.0/N, ::/N) asks for any free subnet of that size (Docker 29)', () => {
      it('cuts a /N from the default pools, skipping what is taken', async () => {
        fx.hostNetworks = ['10.200.0.0/26'];
        const first = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '0.0.0.0/26', SubPool: '', Options: {}, V6: false });
        assert.deepEqual(first, { PoolID: 'tsnet-local/10.200.0.64/26', Pool: '10.200.0.64/26', Data: {} });
        const second = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '0.0.0.0/22' });
        assert.equal(second.Pool, '10.200.4.0/22');
        // A default-size request afterwards steps over both.
        assert.equal((await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' })).Pool, '10.200.1.0/24');
        assert.deepEqual(fx.ipam.listPools().map((p) => [p.pool, p.auto]), [
          ['10.200.0.64/26', true],
          ['10.200.1.0/24', true],
          ['10.200.4.0/22', true],
        ]);
      });

      it('does the same for IPv6', async () => {
        const reply = await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '::/96', V6: true });
        assert.deepEqual(reply, { PoolID: 'tsnet-local/fd74:736e:6574::/96', Pool: 'fd74:736e:6574::/96', Data: {} });
        assert.equal((await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '::/96', V6: true })).Pool, 'fd74:736e:6574::1:0:0/96');
        assert.equal((await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '', V6: true })).Pool, 'fd74:736e:6574:1::/64');
      });

      it('refuses a size no default pool can hold, or one every default pool has used up, naming them', async () => {
        await assertIpamRejects(
          fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '0.0.0.0/8' }),
          'no default IPv4 pool can hold a /8: the default pools are 10.200.0.0/16 split into /24',
        );
        fx.hostNetworks = ['10.200.0.0/17', '10.200.128.0/18', '10.200.192.0/19', '10.200.224.0/20'];
        await assertIpamRejects(
          fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '0.0.0.0/19' }),
          'no available IPv4 pool: every subnet of the default pools (10.200.0.0/16 split into /19) overlaps a tsnet pool or a host network',
        );
        assert.equal((await fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '0.0.0.0/20' })).Pool, '10.200.240.0/20');
      });

      it('still refuses 0.0.0.0/0 and ::/0 as too large, with nothing held', async () => {
        await assertIpamRejects(fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '0.0.0.0/0' }), 'pool 0.0.0.0/0 is too large: IPv4 pools must be /8 or smaller');
        await assertIpamRejects(fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '::/0', V6: true }), 'pool ::/0 is too large: IPv6 pools must be /16 or smaller');
        assert.deepEqual(fx.ipam.listPools(), []);
      });
    });

    it('never gives two concurrent auto requests the same pool', async () => {
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => fx.ipam.requestPool({ AddressSpace: LOCAL, Pool: '' })),
      );
      assert.deepEqual(replies.map((r) => r.Pool), ['10.200.0.0/24', '10.200.1.0/24', '10.200.2.0/24', '10.200.3.0/24', '10.200.4.0/24']);
    });
  });
});
