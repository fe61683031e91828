import assert from 'node:assert/strict';
import { formatIp, formatMac, maskIp, parseCidr, parseIp, parseMac } from '../../../src/netlink';

describe('netlink IP and MAC bytes', () => {
  it('parses IPv4 and IPv6 text into bytes', () => {
    assert.equal(parseIp('10.9.0.1').toString('hex'), '0a090001');
    assert.equal(parseIp('::').toString('hex'), '0'.repeat(32));
    assert.equal(parseIp('::1').toString('hex'), '0'.repeat(31) + '1');
    assert.equal(parseIp('fd00:9::1').toString('hex'), 'fd000009000000000000000000000001');
    assert.equal(parseIp('2001:db8:0:0:1:0:0:1').toString('hex'), '20010db8000000000001000000000001');
    assert.equal(parseIp('fe80::1%eth0').toString('hex'), 'fe800000000000000000000000000001');
    assert.equal(parseIp('::ffff:10.1.2.3').toString('hex'), '00000000000000000000ffff0a010203');
    assert.equal(parseIp('64:ff9b::192.0.2.33').toString('hex'), '0064ff9b0000000000000000c0000221');
    assert.throws(() => parseIp('10.9.0'), /invalid IP/);
    assert.throws(() => parseIp('fd00::1::2'), /invalid IP/);
  });

  it('formats bytes as canonical text (RFC 5952)', () => {
    const cases = ['10.9.0.1', '::', '::1', 'fd00:9::1', '2001:db8::1:0:0:1', '2001:db8:0:1:1:1:1:1', 'fe80::', '1::'];
    for (const text of cases) assert.equal(formatIp(parseIp(text)), text);
    assert.equal(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')), '2001:db8::1');
    assert.equal(formatIp(parseIp('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  });

  it('masks to the network address', () => {
    assert.equal(formatIp(maskIp(parseIp('10.9.7.200'), 20)), '10.9.0.0');
    assert.equal(formatIp(maskIp(parseIp('10.9.7.200'), 32)), '10.9.7.200');
    assert.equal(formatIp(maskIp(parseIp('10.9.7.200'), 0)), '0.0.0.0');
    assert.equal(formatIp(maskIp(parseIp('fd00:9:1:2::5'), 56)), 'fd00:9:1::');
    assert.equal(formatIp(maskIp(parseIp('fd00:9:1:2ff::5'), 57)), 'fd00:9:1:280::');
  });

  it('parses CIDRs', () => {
    assert.deepEqual(parseCidr('10.0.0.1/8'), { family: 4, ip: parseIp('10.0.0.1'), prefixLen: 8 });
    assert.equal(parseCidr('fd00::/128').prefixLen, 128);
    assert.throws(() => parseCidr('fd00::/129'), /bad prefix length/);
    assert.throws(() => parseCidr('10.0.0.1/-1'), /bad prefix length/);
    assert.throws(() => parseCidr('10.0.0.1/'), /bad prefix length/);
  });

  it('converts MACs', () => {
    assert.equal(parseMac('02:42:0A:00:00:ff').toString('hex'), '02420a0000ff');
    assert.equal(formatMac(Buffer.from('02420a0000ff', 'hex')), '02:42:0a:00:00:ff');
    assert.throws(() => parseMac('02:42:0a:00:00'), /invalid MAC/);
  });
});
