import assert from 'node:assert/strict';
import { parseAttrs } from '../../../src/netlink/attributes';
import { bridgePortRequest, IFLA_BRPORT, IFLA_PROTINFO } from '../../../src/netlink';

/** Hex written with spaces between fields for reading; the spaces are not part of the bytes. */
function hex(text: string): string {
  return text.replace(/\s+/g, '');
}

describe('netlink bridge port options (RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO)', () => {
  it('hairpin on: ifinfomsg(family AF_BRIDGE, index) + IFLA_PROTINFO|NLA_F_NESTED { IFLA_BRPORT_MODE u8 1 }', () => {
    const msg = bridgePortRequest(0x1234, { hairpin: true });
    assert.equal(
      msg.toString('hex'),
      hex(`
        07 00 0000  34120000  00000000  00000000
        0c00 0c80
          0500 0400 01 000000
      `),
    );
  });

  it('hairpin off writes 0; several options keep a fixed order, each a padded u8', () => {
    assert.equal(bridgePortRequest(5, { hairpin: false }).subarray(16).toString('hex'), hex('0c00 0c80  0500 0400 00 000000'));
    const msg = bridgePortRequest(5, { isolated: true, hairpin: true, learning: false });
    assert.equal(
      msg.subarray(16).toString('hex'),
      hex(`
        1c00 0c80
          0500 0400 01 000000
          0500 0800 00 000000
          0500 2100 01 000000
      `),
    );
  });

  it('round-trips through the attribute parser', () => {
    const msg = bridgePortRequest(7, { hairpin: true, unicastFlood: false, neighSuppress: true });
    assert.equal(msg.readUInt8(0), 7, 'AF_BRIDGE');
    assert.equal(msg.readInt32LE(4), 7, 'ifi_index');
    const outer = parseAttrs(msg.subarray(16));
    assert.deepEqual([...outer.keys()], [IFLA_PROTINFO]);
    assert.equal(msg.readUInt16LE(18) & 0x8000, 0x8000, 'NLA_F_NESTED set: without it br_setlink reads a port state');
    const inner = parseAttrs(outer.get(IFLA_PROTINFO)!);
    assert.deepEqual(
      [...inner.entries()].map(([k, v]) => [k, v.readUInt8(0)]),
      [
        [IFLA_BRPORT.MODE, 1],
        [IFLA_BRPORT.UNICAST_FLOOD, 0],
        [IFLA_BRPORT.NEIGH_SUPPRESS, 1],
      ],
    );
  });

  it('refuses an empty option set and a bad index', () => {
    assert.throws(() => bridgePortRequest(3, {}), /no bridge port option/);
    assert.throws(() => bridgePortRequest(0, { hairpin: true }), /invalid link index/);
    assert.throws(() => bridgePortRequest(-1, { hairpin: true }), /invalid link index/);
  });
});
