/** The VXLAN device's name and the drift check of an existing device (src/datapath/vxlan/device.ts). */
import assert from 'node:assert/strict';
import { vxlanDrift, vxlanName } from '../../../../src/datapath/vxlan/device';
import type * as nl from '../../../../src/netlink';

describe('vxlan: device', () => {
  it('names the device tsx + 12 characters of the network ID (64-hex and 25-character Swarm IDs)', () => {
    assert.equal(vxlanName('8e89a1b2c3d4e5f6'.repeat(4)), 'tsx8e89a1b2c3d4');
    assert.equal(vxlanName('yrourpbjqx46jwd2vvr0nodh4'), 'tsxyrourpbjqx46');
    assert.ok(vxlanName('x'.repeat(64)).length <= 15);
  });

  it('reports what differs on an existing device', () => {
    const link = { vxlan: { vni: 42, port: 4789, local: '10.0.0.1', learning: true, underlayIndex: 2 } } as nl.Link;
    const config = { vni: 42, port: 4789, local: '10.0.0.1', underlayIndex: 2 };
    assert.deepEqual(vxlanDrift(link, config), []);
    assert.deepEqual(vxlanDrift(link, { ...config, vni: 43, port: 4790 }), ['vni 42 != 43', 'port 4789 != 4790']);
    assert.deepEqual(vxlanDrift({ vxlan: { ...link.vxlan, learning: false, local: '10.0.0.5' } } as nl.Link, config), [
      'local 10.0.0.5 != 10.0.0.1',
      'learning off',
    ]);
  });
});
