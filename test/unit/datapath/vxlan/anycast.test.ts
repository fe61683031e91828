/** The anycast gateway's MAC (src/datapath/vxlan/anycast.ts): the same on every host, derived from the VNI. */
import assert from 'node:assert/strict';
import { anycastGatewayMac } from '../../../../src/datapath/vxlan/anycast';

describe('vxlan: anycast gateway', () => {
  it('derives the gateway MAC from the VNI: 02:74:73 + 24-bit VNI', () => {
    assert.equal(anycastGatewayMac(42), '02:74:73:00:00:2a');
    assert.equal(anycastGatewayMac(0xabcdef), '02:74:73:ab:cd:ef');
    assert.equal(anycastGatewayMac(1), '02:74:73:00:00:01');
    assert.throws(() => anycastGatewayMac(0x1000000), RangeError);
    assert.throws(() => anycastGatewayMac(-1), RangeError);
  });
});
