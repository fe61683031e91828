import assert from 'node:assert/strict';
import { diedWithItsContainer, unmarkedLeftoverVeths } from '../../../../src/datapath/shared/bridge-links';
import type { EndpointRecord } from '../../../../src/model/records';

const ep = (joined: boolean): EndpointRecord => ({
  networkId: 'a'.repeat(64),
  id: 'c'.repeat(64),
  macAddress: '02:42:0a:00:00:02',
  macFromDriver: true,
  portBindings: [],
  exposedPorts: [],
  externalConnectivity: false,
  createdAt: new Date().toISOString(),
  datapath: { hostIfname: 'tsvcccccccccccc', containerIfname: 'tsccccccccccccc' },
  ...(joined ? { sandboxKey: '/var/run/docker/netns/x' } : {}),
});

describe('reconcile: endpoints that died with their container', () => {
  it('a joined endpoint without its host veth died with its container', () => {
    assert.equal(diedWithItsContainer(ep(true), new Set(['lo'])), true);
  });
  it('a joined endpoint whose host veth is there is alive', () => {
    assert.equal(diedWithItsContainer(ep(true), new Set(['tsvcccccccccccc'])), false);
  });
  it('an unjoined endpoint is recreated, not given up', () => {
    assert.equal(diedWithItsContainer(ep(false), new Set()), false);
  });
});

describe('reconcile: unmarked veths a crash left', () => {
  // Only the fields the filter reads.
  const link = (name: string, extra: Record<string, unknown> = {}) => ({ name, index: 9, kind: 'veth', ...extra }) as never;
  it('takes an unmarked tsnet-named veth on no bridge or on our own bridge', () => {
    const found = unmarkedLeftoverVeths([link('tsv0123456789ab'), link('tsv0123456789ac', { masterIndex: 3 })], new Set(), new Set([3]));
    assert.equal(found.length, 2);
  });
  it("leaves marked links, stored endpoints, other names and links on another install's bridge", () => {
    const found = unmarkedLeftoverVeths(
      [link('tsv0123456789ab', { alias: 'tsnet:x:bridge:ep:1' }), link('tsv0123456789ac'), link('veth123'), link('tsv0123456789ad', { masterIndex: 7 })],
      new Set(['tsv0123456789ac']),
      new Set([3]),
    );
    assert.deepEqual(found, []);
  });
});
