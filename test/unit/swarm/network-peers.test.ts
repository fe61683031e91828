/**
 * Docker's peer lists per network (src/swarm/network-peers.ts) against a fake Docker API and a fake
 * clock: when a read is due, and what a failed or empty read does.
 */
import assert from 'node:assert/strict';
import type { DockerNetworkView } from '../../../src/docker/api-client';
import { testLogger } from '../../../src/log';
import { DockerNetworkPeers } from '../../../src/swarm/network-peers';
import { fakeClock, type FakeClock } from '../../lab/fake-clock';

const INTERVAL_MS = 30_000;

describe('swarm: peer lists of networks from Docker', () => {
  let clock: FakeClock;
  let reads: string[];
  let answers: Map<string, DockerNetworkView | Error | undefined>;
  let lists: DockerNetworkPeers;

  beforeEach(() => {
    clock = fakeClock(1_000_000);
    reads = [];
    answers = new Map([['net-a', { Id: 'net-a', Peers: [{ Name: 'h2', IP: '10.0.0.2' }, { Name: 'h3', IP: '10.0.0.3' }] }]]);
    const docker = {
      network: async (id: string) => {
        reads.push(id);
        const answer = answers.get(id);
        if (answer instanceof Error) throw answer;
        return answer;
      },
    };
    lists = new DockerNetworkPeers({ docker, log: testLogger(), intervalMs: INTERVAL_MS, clock });
  });

  it('reads at once, then only once the interval has passed', async () => {
    assert.deepEqual(await lists.readIfDue(['net-a']), new Map([['net-a', ['10.0.0.2', '10.0.0.3']]]));
    clock.tick(INTERVAL_MS - 1);
    assert.equal(await lists.readIfDue(['net-a']), undefined);
    clock.tick(1);
    assert.ok(await lists.readIfDue(['net-a']));
    assert.deepEqual(reads, ['net-a', 'net-a']);
  });

  it('markDirty() makes the next chance read, whatever the interval', async () => {
    await lists.readIfDue(['net-a']);
    assert.equal(await lists.readIfDue(['net-a']), undefined);
    lists.markDirty();
    assert.ok(await lists.readIfDue(['net-a']));
    assert.equal(await lists.readIfDue(['net-a']), undefined);
  });

  it('a network Docker does not list, or a Docker that fails, is read again at the next chance; the others are returned', async () => {
    answers.set('net-b', undefined);
    answers.set('net-c', new Error('connect ENOENT'));
    answers.set('net-d', { Id: 'net-d', Peers: null });
    const got = await lists.readIfDue(['net-a', 'net-b', 'net-c', 'net-d']);
    assert.deepEqual(got, new Map([['net-a', ['10.0.0.2', '10.0.0.3']]]));
    assert.ok(await lists.readIfDue(['net-a']), 'read again without waiting for the interval');
    assert.equal(await lists.readIfDue(['net-a']), undefined, 'then not until the interval');
  });
});
