import assert from 'node:assert/strict';
import { formatCidr } from '../../../src/ipam/address';
import { findFreeSubnet, readDefaultPools } from '../../../src/ipam/default-pools';
import { IpamError } from '../../../src/ipam/ipam-error';
import { cidrOf } from '../../lab';

describe('ipam default pools', () => {
  const pools = readDefaultPools(
    [
      { base: '10.10.0.0/22', size: 24 },
      { base: '10.20.0.0/16', size: 16 },
    ],
    4,
    'test pools',
  );

  it('hands out subnets of each base in order', () => {
    assert.equal(formatCidr(findFreeSubnet(pools, [])!), '10.10.0.0/24');
    assert.equal(formatCidr(findFreeSubnet(pools, [cidrOf('10.10.0.0/24')])!), '10.10.1.0/24');
    assert.equal(formatCidr(findFreeSubnet(pools, [cidrOf('10.10.0.0/23'), cidrOf('10.10.2.7/32')])!), '10.10.3.0/24');
  });

  it('moves to the next base when one is covered, and gives up when all are', () => {
    assert.equal(formatCidr(findFreeSubnet(pools, [cidrOf('10.10.0.0/22')])!), '10.20.0.0/16');
    assert.equal(findFreeSubnet(pools, [cidrOf('10.0.0.0/8')]), undefined);
  });

  it('cuts subnets of a requested size from every base that can hold one', () => {
    assert.equal(formatCidr(findFreeSubnet(pools, [], 26)!), '10.10.0.0/26');
    assert.equal(formatCidr(findFreeSubnet(pools, [cidrOf('10.10.0.0/23')], 23)!), '10.10.2.0/23');
    // /20 fits only the /16 base; /12 fits none.
    assert.equal(formatCidr(findFreeSubnet(pools, [], 20)!), '10.20.0.0/20');
    assert.equal(findFreeSubnet(pools, [], 12), undefined);
  });

  it('jumps past a large blocker without walking every subnet in it', () => {
    const v6 = readDefaultPools([{ base: 'fd00::/16', size: 64 }], 6, 'v6');
    const started = process.hrtime.bigint();
    assert.equal(formatCidr(findFreeSubnet(v6, [cidrOf('fd00::/17')])!), 'fd00:8000::/64');
    assert.ok(process.hrtime.bigint() - started < 50_000_000n);
  });

  it('refuses bad settings with the setting named', () => {
    const cases: Array<[{ base: string; size: number }, 4 | 6, string]> = [
      [{ base: 'nope', size: 24 }, 4, 'p: nope/24: "nope" is not a CIDR'],
      [{ base: 'fd00::/48', size: 64 }, 4, 'p: fd00::/48/64: expected an IPv4 base'],
      [{ base: '10.0.0.1/16', size: 24 }, 4, 'p: 10.0.0.1/16/24: base should be 10.0.0.0/16 (host bits must be zero)'],
      [{ base: '10.0.0.0/16', size: 8 }, 4, 'p: 10.0.0.0/16/8: size must be between /16 and /30'],
      [{ base: '10.0.0.0/16', size: 31 }, 4, 'p: 10.0.0.0/16/31: size must be between /16 and /30'],
      [{ base: 'fd00::/48', size: 127 }, 6, 'p: fd00::/48/127: size must be between /48 and /126'],
    ];
    for (const [setting, family, message] of cases) {
      assert.throws(() => readDefaultPools([setting], family, 'p'), new IpamError(message));
    }
  });
});
