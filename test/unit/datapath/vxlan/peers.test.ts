/**
 * The peer set of the VXLAN data path (src/datapath/vxlan/peers.ts) on a fake clock: discovered nodes
 * and their DiscoverDelete grace period, Docker-listed, learned and carried-over peers per network.
 */
import assert from 'node:assert/strict';
import { PeerSet } from '../../../../src/datapath/vxlan/peers';
import { fakeClock, type FakeClock } from '../../../lab/fake-clock';

const GRACE_MS = 60_000;

describe('vxlan peer set', () => {
  let clock: FakeClock;
  let gone: string[];
  let peers: PeerSet;
  const asIs = (control: string) => control;

  beforeEach(() => {
    clock = fakeClock();
    gone = [];
    peers = new PeerSet({ clock, graceMs: GRACE_MS, onGone: (address) => gone.push(address) });
  });
  afterEach(() => peers.stop());

  it('a node that joins is a flood destination of every network; joining again changes nothing', () => {
    assert.equal(peers.join('10.0.0.2'), true);
    assert.equal(peers.join('10.0.0.2'), false);
    assert.deepEqual(peers.destinationsOf('net-a', asIs), ['10.0.0.2']);
    assert.deepEqual(peers.destinationsOf('net-b', asIs), ['10.0.0.2']);
    assert.equal(peers.isDiscovered('10.0.0.2'), true);
  });

  it('a node that left stays discovered for the grace period, then goes (onGone once)', () => {
    peers.join('10.0.0.2');
    assert.equal(peers.leave('10.0.0.2'), true);
    assert.equal(peers.leave('10.0.0.2'), false, 'a repeated DiscoverDelete does not restart the period');
    clock.tick(GRACE_MS - 1);
    assert.equal(peers.isDiscovered('10.0.0.2'), true);
    assert.deepEqual(gone, []);
    clock.tick(1);
    assert.equal(peers.isDiscovered('10.0.0.2'), false);
    assert.deepEqual(peers.destinationsOf('net-a', asIs), []);
    assert.deepEqual(gone, ['10.0.0.2']);
    clock.tick(10 * GRACE_MS);
    assert.deepEqual(gone, ['10.0.0.2']);
    assert.equal(clock.countTimers(), 0);
  });

  it('a re-join during the grace period cancels the removal', () => {
    peers.join('10.0.0.2');
    peers.leave('10.0.0.2');
    clock.tick(GRACE_MS / 2);
    assert.equal(peers.join('10.0.0.2'), false, 'still discovered: nothing to add');
    clock.tick(2 * GRACE_MS);
    assert.equal(peers.isDiscovered('10.0.0.2'), true);
    assert.deepEqual(gone, []);
    assert.equal(clock.countTimers(), 0);
    // Leaving again starts a new, full grace period.
    peers.leave('10.0.0.2');
    clock.tick(GRACE_MS - 1);
    assert.deepEqual(gone, []);
    clock.tick(1);
    assert.deepEqual(gone, ['10.0.0.2']);
  });

  it('a node never discovered cannot leave; stop() cancels the pending periods', () => {
    assert.equal(peers.leave('10.0.0.9'), false);
    assert.equal(clock.countTimers(), 0);
    peers.join('10.0.0.2');
    peers.leave('10.0.0.2');
    peers.stop();
    clock.tick(2 * GRACE_MS);
    assert.deepEqual(gone, []);
    assert.equal(clock.countTimers(), 0);
  });

  it("Docker's list of a network replaces the previous one and ends the entries carried over a restart", () => {
    peers.carry('net-a', ['10.0.0.7']);
    peers.carry('net-b', ['10.0.0.8']);
    assert.deepEqual(peers.destinationsOf('net-a', asIs), ['10.0.0.7']);
    peers.setListed('net-a', ['10.0.0.3', '10.0.0.4']);
    assert.deepEqual(peers.destinationsOf('net-a', asIs), ['10.0.0.3', '10.0.0.4']);
    peers.setListed('net-a', ['10.0.0.4']);
    assert.deepEqual(peers.destinationsOf('net-a', asIs), ['10.0.0.4']);
    assert.deepEqual(peers.destinationsOf('net-b', asIs), ['10.0.0.8'], 'other networks keep theirs');
  });

  it('learned VTEPs add up per network; forget() drops listed, learned and carried peers of the network', () => {
    peers.join('10.0.0.2');
    peers.learn('net-a', ['10.0.0.5']);
    peers.learn('net-a', ['10.0.0.6', '10.0.0.5']);
    peers.setListed('net-a', ['10.0.0.3']);
    peers.carry('net-a', ['10.0.0.7']);
    assert.deepEqual(peers.destinationsOf('net-a', asIs), ['10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.6', '10.0.0.7']);
    assert.deepEqual(peers.destinationsOf('net-b', asIs), ['10.0.0.2']);
    peers.forget('net-a');
    assert.deepEqual(peers.destinationsOf('net-a', asIs), ['10.0.0.2'], 'the discovered node is every network\'s');
  });

  it('discovered and listed nodes go through their flood address (data-path address); learned and carried ones do not', () => {
    peers.join('192.0.2.2');
    peers.setListed('net-a', ['192.0.2.3']);
    peers.learn('net-a', ['192.0.2.5']);
    peers.carry('net-a', ['192.0.2.7']);
    const data = (control: string) => control.replace('192.0.2.', '10.222.0.');
    assert.deepEqual(peers.destinationsOf('net-a', data), ['10.222.0.2', '10.222.0.3', '192.0.2.5', '192.0.2.7']);
    assert.deepEqual([...peers.controlAddresses()].sort(), ['192.0.2.2', '192.0.2.3'], 'the nodes whose data addresses are asked for');
  });
});
