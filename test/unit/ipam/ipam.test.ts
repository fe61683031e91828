import assert from 'node:assert/strict';
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from '../../../src/ipam/ipam';
import { assertIpamError, GATEWAY, IpamFixture } from '../../lab';

/**
 * One script of calls, run on a fixture that is restarted (store closed and reopened, new Ipam) at
 * `restartAt`; the replies must not depend on where, or whether, the restart happened.
 */
async function runScript(fx: IpamFixture, restartAt: number): Promise<unknown[]> {
  const replies: unknown[] = [];
  const steps: Array<() => unknown> = [
    () => fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '10.99.0.0/24', SubPool: '10.99.0.0/29' }),
    () => fx.ipam.requestPool({ AddressSpace: GLOBAL_ADDRESS_SPACE, Pool: '10.99.0.0/24' }),
    () => fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '' }),
    () => fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '', V6: true }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: GATEWAY }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '10.99.0.100', Options: null }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: null }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: null }),
    () => fx.ipam.releaseAddress('tsnet-local/10.99.0.0/24/10.99.0.0/29', '10.99.0.2'),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-global/10.99.0.0/24', Address: '10.99.0.1', Options: GATEWAY }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/fd74:736e:6574::/64', Address: '', Options: GATEWAY }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/fd74:736e:6574::/64', Address: '', Options: null }),
    () => fx.ipam.requestPool({ AddressSpace: GLOBAL_ADDRESS_SPACE, Pool: '10.99.0.0/24' }),
    // After the restart point: everything below must answer as if nothing happened.
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: null }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: null }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: null }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/10.99.0.0/24/10.99.0.0/29', Address: '', Options: null }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-global/10.99.0.0/24', Address: '10.99.0.1', Options: GATEWAY }),
    () => fx.ipam.requestAddress({ PoolID: 'tsnet-local/fd74:736e:6574::/64', Address: '', Options: null }),
    () => fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '' }),
    () => fx.ipam.releasePool('tsnet-global/10.99.0.0/24'),
    () => fx.ipam.listPools(),
    () => fx.ipam.allocated('tsnet-local/10.99.0.0/24/10.99.0.0/29'),
    () => fx.ipam.allocated('tsnet-global/10.99.0.0/24'),
  ];
  for (const [index, step] of steps.entries()) {
    if (index === restartAt) await fx.reopen();
    try {
      replies.push(await step());
    } catch (err) {
      replies.push({ error: (err as Error).message });
    }
  }
  return replies;
}

describe('ipam restart', () => {
  const fixtures: IpamFixture[] = [];
  function fixture(): IpamFixture {
    const fx = new IpamFixture();
    fixtures.push(fx);
    return fx;
  }
  afterEach(async () => {
    for (const fx of fixtures.splice(0)) await fx.dispose();
  });

  it('answers the same script identically with or without a restart anywhere in it', async () => {
    const expected = await runScript(fixture(), -1);
    assert.deepEqual(expected.slice(13, 20), [
      { Address: '10.99.0.4/24', Data: {} },
      { Address: '10.99.0.5/24', Data: {} },
      { Address: '10.99.0.6/24', Data: {} },
      { Address: '10.99.0.7/24', Data: {} },
      { Address: '10.99.0.1/24', Data: {} },
      { Address: 'fd74:736e:6574::3/64', Data: {} },
      { PoolID: 'tsnet-local/10.200.1.0/24', Pool: '10.200.1.0/24', Data: {} },
    ]);
    assert.deepEqual(expected.slice(-2), [
      ['10.99.0.1', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6', '10.99.0.7', '10.99.0.100'],
      ['10.99.0.1'],
    ]);
    for (const restartAt of [5, 9, 13, 17]) {
      assert.deepEqual(await runScript(fixture(), restartAt), expected, `restart before step ${restartAt}`);
    }
  });

  it('never hands out an address twice across restarts', async () => {
    const fx = fixture();
    const { PoolID } = await fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '10.0.0.0/28' });
    const handedOut: string[] = [];
    for (let round = 0; round < 5; round++) {
      handedOut.push(fx.ipam.requestAddress({ PoolID, Address: '' }).Address);
      handedOut.push(fx.ipam.requestAddress({ PoolID, Address: '' }).Address);
      await fx.reopen();
    }
    assert.deepEqual(handedOut, Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}/28`));
    assertIpamError(
      () => fx.ipam.requestAddress({ PoolID, Address: '10.0.0.3' }),
      'address 10.0.0.3 is already allocated in pool tsnet-local/10.0.0.0/28',
    );
  });

  it('keeps reference counts and releases across restarts', async () => {
    const fx = fixture();
    // Held twice: only Swarm's global space takes the same pool again (a new leader replays).
    const req = { AddressSpace: GLOBAL_ADDRESS_SPACE, Pool: '10.5.0.0/16' };
    const { PoolID } = await fx.ipam.requestPool(req);
    await fx.ipam.requestPool(req);
    fx.ipam.requestAddress({ PoolID, Address: '10.5.0.9' });
    await fx.reopen();
    assert.deepEqual(fx.ipam.releasePool(PoolID), { released: true });
    await fx.reopen();
    assert.deepEqual(fx.ipam.allocated(PoolID), ['10.5.0.9']);
    assert.deepEqual(fx.ipam.releaseAddress(PoolID, '10.5.0.9'), { released: true });
    assert.deepEqual(fx.ipam.releasePool(PoolID), { released: true });
    await fx.reopen();
    assert.deepEqual(fx.ipam.listPools(), []);
    assert.deepEqual(fx.store.range('ipam/'), []);
  });
});

describe('ipam: group-committed address calls', () => {
  let fx: IpamFixture;
  beforeEach(() => {
    fx = new IpamFixture();
  });
  afterEach(async () => {
    await fx.dispose();
  });

  it('calls in flight together answer as the same calls one by one, and what they answered survives a restart', async () => {
    const { PoolID } = await fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '10.98.0.0/28' });
    const answers = await Promise.allSettled([
      fx.ipam.requestAddressGrouped({ PoolID, Address: '', Options: GATEWAY }),
      ...Array.from({ length: 14 }, () => fx.ipam.requestAddressGrouped({ PoolID, Address: '' })),
      fx.ipam.requestAddressGrouped({ PoolID, Address: '10.98.0.3' }),
    ]);
    const addresses = answers.map((a) => (a.status === 'fulfilled' ? a.value.Address : (a.reason as Error).message));
    assert.deepEqual(addresses, [
      '10.98.0.1/28',
      ...Array.from({ length: 13 }, (_, i) => `10.98.0.${i + 2}/28`),
      'no available addresses in pool tsnet-local/10.98.0.0/28',
      'address 10.98.0.3 is already allocated in pool tsnet-local/10.98.0.0/28',
    ]);
    const releases = await Promise.all([fx.ipam.releaseAddressGrouped(PoolID, '10.98.0.5'), fx.ipam.releaseAddressGrouped(PoolID, '10.98.0.5')]);
    assert.deepEqual(releases, [{ released: true }, { released: false }]);
    await fx.reopen();
    assert.deepEqual(fx.ipam.allocated(PoolID), Array.from({ length: 14 }, (_, i) => `10.98.0.${i + 1}`).filter((a) => a !== '10.98.0.5'));
    assert.deepEqual(await fx.ipam.requestAddressGrouped({ PoolID, Address: '' }), { Address: '10.98.0.5/28', Data: {} });
  });

  it('keeps no parsed pool layout past its pool: 300 networks made and removed leave the cache empty', async () => {
    const layouts = () => (fx.ipam as unknown as { layouts: Map<string, unknown> }).layouts.size;
    for (let i = 0; i < 300; i++) {
      const { PoolID } = await fx.ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: `10.${100 + (i >> 8)}.${i & 255}.0/24` });
      await fx.ipam.requestAddressGrouped({ PoolID, Address: '', Options: GATEWAY });
      assert.equal(layouts(), 1);
      fx.ipam.releasePool(PoolID);
    }
    assert.equal(layouts(), 0);
  });
});
