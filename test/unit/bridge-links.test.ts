import assert from 'node:assert/strict';
import { diedWithItsContainer } from '../../src/datapath/bridge-links';
import type { EndpointRecord } from '../../src/driver/model';

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
