import assert from 'node:assert/strict';
import {
  addressHex,
  cidrsOverlap,
  cidrWithin,
  formatCidr,
  formatIp,
  lastAddress,
  parseCidr,
  parseIp,
  type Cidr,
} from '../../../src/ipam/address';
import { findFreeSubnet, readDefaultPools } from '../../../src/ipam/default-pools';
import { IpamError } from '../../../src/ipam/ipam-error';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(parsed, `${text} should parse`);
  return parsed.cidr;
}

describe('ipam address math', () => {
  it('parses IPv4 and IPv6 into BigInt values', () => {
    assert.deepEqual(parseIp('10.0.0.5'), { family: 4, value: 0x0a000005n });
    assert.deepEqual(parseIp('255.255.255.255'), { family: 4, value: 0xffffffffn });
    assert.deepEqual(parseIp('fd00::1'), { family: 6, value: (0xfd00n << 112n) | 1n });
    assert.deepEqual(parseIp('::'), { family: 6, value: 0n });
  });

  it('keeps an IPv4-mapped IPv6 address IPv6', () => {
    assert.deepEqual(parseIp('::ffff:10.0.0.1'), { family: 6, value: (0xffffn << 32n) | 0x0a000001n });
  });

  it('rejects malformed addresses', () => {
    for (const bad of ['', '10.0.0', '10.0.0.256', '010.0.0.1', ' 10.0.0.1', '10.0.0.1 ', 'fe80::1%eth0', 'fd00::g', 'host', '1.2.3.4.5']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('formats addresses canonically', () => {
    assert.equal(formatIp(4, 0x0a630005n), '10.99.0.5');
    assert.equal(formatIp(6, parseIp('FD00:0:0:0:0:0:0:1')!.value), 'fd00::1');
    assert.equal(formatIp(6, parseIp('2001:db8:0:0:1:0:0:1')!.value), '2001:db8::1:0:0:1');
    assert.equal(formatIp(6, parseIp('::ffff:10.0.0.1')!.value), '::ffff:a00:1');
  });

  it('parses CIDRs, keeping the written address apart from the network', () => {
    assert.deepEqual(parseCidr('10.0.0.5/24'), { cidr: { family: 4, network: 0x0a000000n, prefix: 24 }, address: 0x0a000005n });
    assert.equal(formatCidr(cidr('fd74:736e:6574:0::/48')), 'fd74:736e:6574::/48');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/24/1', 'fd00::/129', '/24']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });

  it('computes last address, containment and overlap', () => {
    assert.equal(lastAddress(cidr('10.0.0.0/8')), 0x0affffffn);
    assert.equal(cidrWithin(cidr('10.0.0.128/25'), cidr('10.0.0.0/24')), true);
    assert.equal(cidrWithin(cidr('10.0.0.0/23'), cidr('10.0.0.0/24')), false);
    assert.equal(cidrWithin(cidr('10.0.1.0/25'), cidr('10.0.0.0/24')), false);
    assert.equal(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.1.2.0/24')), true);
    assert.equal(cidrsOverlap(cidr('10.1.0.0/24'), cidr('10.1.1.0/24')), false);
    assert.equal(cidrsOverlap(cidr('10.0.0.0/8'), cidr('fd00::/8')), false);
  });

  it('writes fixed-width hex so that keys sort in address order', () => {
    assert.equal(addressHex(4, 0x0a000005n), '0a000005');
    assert.equal(addressHex(6, 1n), '00000000000000000000000000000001');
  });
});

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
    assert.equal(formatCidr(findFreeSubnet(pools, [cidr('10.10.0.0/24')])!), '10.10.1.0/24');
    assert.equal(formatCidr(findFreeSubnet(pools, [cidr('10.10.0.0/23'), cidr('10.10.2.7/32')])!), '10.10.3.0/24');
  });

  it('moves to the next base when one is covered, and gives up when all are', () => {
    assert.equal(formatCidr(findFreeSubnet(pools, [cidr('10.10.0.0/22')])!), '10.20.0.0/16');
    assert.equal(findFreeSubnet(pools, [cidr('10.0.0.0/8')]), undefined);
  });

  it('jumps past a large blocker without walking every subnet in it', () => {
    const v6 = readDefaultPools([{ base: 'fd00::/16', size: 64 }], 6, 'v6');
    const started = process.hrtime.bigint();
    assert.equal(formatCidr(findFreeSubnet(v6, [cidr('fd00::/17')])!), 'fd00:8000::/64');
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
