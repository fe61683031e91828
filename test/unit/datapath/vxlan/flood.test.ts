/**
 * Who a VXLAN device floods to (src/datapath/vxlan/flood.ts): flood peers and the plan of entry
 * changes, and which learned VTEPs become peers (the learning scope).
 */
import assert from 'node:assert/strict';
import { canonicalIp, floodPeers, insideCidrs, learnedVteps, planFlood, subnetOf } from '../../../../src/datapath/vxlan/flood';
import type * as nl from '../../../../src/netlink';

describe('vxlan: flood peers', () => {
  it('canonicalises, deduplicates and drops this host\'s own addresses', () => {
    assert.deepEqual(floodPeers(['10.0.0.2', '10.0.0.1', '10.0.0.2', '10.0.0.3'], ['10.0.0.4', '10.0.0.3'], ['10.0.0.1', '127.0.0.1'], 4), [
      '10.0.0.2',
      '10.0.0.3',
      '10.0.0.4',
    ]);
    assert.deepEqual(floodPeers(['2001:DB8:0::5'], [], ['2001:db8::1'], 6), ['2001:db8::5']);
    assert.equal(canonicalIp('not-an-ip'), undefined);
  });

  it('refuses a configured peer of the other family, ignores discovered ones', () => {
    assert.throws(() => floodPeers(['2001:db8::5'], [], [], 4), /peer 2001:db8::5 is IPv6 but the underlay address is IPv4/);
    assert.deepEqual(floodPeers([], ['2001:db8::5', '10.0.0.9'], [], 4), ['10.0.0.9']);
  });

  it('plans additions and removals of flood entries only (learned entries are the kernel\'s)', () => {
    const present: Pick<nl.FdbEntry, 'mac' | 'dst'>[] = [
      { mac: '00:00:00:00:00:00', dst: '10.0.0.2' },
      { mac: '00:00:00:00:00:00', dst: '10.0.0.9' },
      { mac: '02:42:0a:4d:00:82', dst: '10.0.0.7' },
      { mac: '5a:00:00:00:00:01' },
    ];
    assert.deepEqual(planFlood(['10.0.0.2', '10.0.0.3'], present), { add: ['10.0.0.3'], remove: ['10.0.0.9'] });
    assert.deepEqual(planFlood(['10.0.0.2', '10.0.0.9'], present), { add: [], remove: [] });
  });
});

describe('vxlan (Swarm): learning scope', () => {
  it('learns VTEPs of container MACs inside the scope, not flood peers, not itself, not permanent entries', () => {
    const entries = [
      { mac: '02:42:0a:4d:00:82', dst: '10.211.0.2', permanent: false },
      { mac: '02:42:0a:4d:00:83', dst: '10.211.0.3', permanent: false },
      { mac: '02:42:0a:4d:00:84', dst: '192.0.2.9', permanent: false },
      { mac: '02:42:0a:4d:00:85', dst: '10.211.0.1', permanent: false },
      { mac: '00:00:00:00:00:00', dst: '10.211.0.7', permanent: true },
      { mac: '02:42:0a:4d:00:86', dst: '10.211.0.8', permanent: true },
      { mac: '02:42:0a:4d:00:87', permanent: false },
    ];
    assert.deepEqual(learnedVteps(entries, ['10.211.0.3'], ['10.211.0.1'], ['10.211.0.0/24']), ['10.211.0.2']);
    assert.deepEqual(learnedVteps(entries, [], [], ['192.0.2.0/24']), ['192.0.2.9']);
    assert.equal(subnetOf('10.211.0.1', 24), '10.211.0.0/24');
    assert.equal(insideCidrs('fd00::5', ['10.0.0.0/8', 'fd00::/64']), true);
    assert.equal(insideCidrs('10.1.0.5', ['fd00::/64']), false);
  });
});
