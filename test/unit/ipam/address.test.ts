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
} from '../../../src/ipam/address';
import { cidrOf } from '../../lab';

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
    assert.equal(formatCidr(cidrOf('fd74:736e:6574:0::/48')), 'fd74:736e:6574::/48');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/24/1', 'fd00::/129', '/24']) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });

  it('computes last address, containment and overlap', () => {
    assert.equal(lastAddress(cidrOf('10.0.0.0/8')), 0x0affffffn);
    assert.equal(cidrWithin(cidrOf('10.0.0.128/25'), cidrOf('10.0.0.0/24')), true);
    assert.equal(cidrWithin(cidrOf('10.0.0.0/23'), cidrOf('10.0.0.0/24')), false);
    assert.equal(cidrWithin(cidrOf('10.0.1.0/25'), cidrOf('10.0.0.0/24')), false);
    assert.equal(cidrsOverlap(cidrOf('10.1.0.0/16'), cidrOf('10.1.2.0/24')), true);
    assert.equal(cidrsOverlap(cidrOf('10.1.0.0/24'), cidrOf('10.1.1.0/24')), false);
    assert.equal(cidrsOverlap(cidrOf('10.0.0.0/8'), cidrOf('fd00::/8')), false);
  });

  it('writes fixed-width hex so that keys sort in address order', () => {
    assert.equal(addressHex(4, 0x0a000005n), '0a000005');
    assert.equal(addressHex(6, 1n), '00000000000000000000000000000001');
  });
});
