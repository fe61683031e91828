/** MACs of the data paths (src/datapath/shared/mac.ts). */
import assert from 'node:assert/strict';
import { isMulticastMac, macFromIPv4 } from '../../../../src/datapath/shared/mac';

describe('data-path MACs', () => {
  it('derives 02:42:<IPv4 bytes> like Docker', () => {
    assert.equal(macFromIPv4('10.99.0.5'), '02:42:0a:63:00:05');
    assert.equal(macFromIPv4('172.17.255.254'), '02:42:ac:11:ff:fe');
  });

  it('recognises multicast MACs', () => {
    assert.ok(isMulticastMac('01:00:5e:00:00:01'));
    assert.ok(isMulticastMac('33:33:00:00:00:01'));
    assert.ok(!isMulticastMac('02:42:0a:63:00:05'));
  });
});
