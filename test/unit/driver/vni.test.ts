/**
 * VNI allocation on the Swarm manager (src/driver/vni.ts) over a real store in a temporary directory.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BadRequestError } from '../../../src/model/errors';
import { allocatedVnis, allocateVni, releaseVni } from '../../../src/driver/vni';
import { Store } from '../../../src/store/store';

describe('vxlan (Swarm): VNI allocation', () => {
  let dir: string;
  let store: Store;
  const alloc = (id: string, options: Record<string, string>, range = { first: 1, last: 4095 }) =>
    store.transact((tx) => allocateVni(tx, id, options, range));
  const free = (id: string) => store.transact((tx) => releaseVni(tx, id));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-vni-'));
    store = Store.open(dir);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives vxlan networks the lowest free VNI of the range and echoes the options', () => {
    assert.deepEqual(alloc('net-a', { type: 'vxlan', foo: 'bar' }), { type: 'vxlan', foo: 'bar', vni: '1' });
    assert.deepEqual(alloc('net-b', { type: 'overlay' }), { type: 'overlay', vni: '2' });
    assert.deepEqual(alloc('net-c', {}), {}, 'bridge networks get no VNI');
    assert.deepEqual(alloc('net-d', { type: 'macvlan' }), { type: 'macvlan' });
    assert.deepEqual([...store.transact((tx) => allocatedVnis(tx))], [['net-a', 1], ['net-b', 2]]);
  });

  it('is idempotent: a repeat, or a new leader replaying the previous reply, gets the same VNI', () => {
    const first = alloc('net-a', { type: 'vxlan' });
    assert.deepEqual(alloc('net-a', { type: 'vxlan' }), first);
    assert.deepEqual(alloc('net-a', { type: 'vxlan', vni: '1' }), first, 'previous reply merged into the options');
    assert.throws(() => alloc('net-a', { type: 'vxlan', vni: '9' }), /already has VNI 1; it cannot change to 9/);
  });

  it('records the VNI of a replayed allocation this store never saw (a new leader)', () => {
    assert.deepEqual(alloc('net-old', { type: 'vxlan', vni: '7' }), { type: 'vxlan', vni: '7' });
    assert.deepEqual(alloc('net-new', { type: 'vxlan' }), { type: 'vxlan', vni: '1' });
    assert.throws(() => alloc('net-other', { type: 'vxlan', vni: '7' }), (e: Error) => e instanceof BadRequestError && /VNI 7 is already allocated to swarm network net-old/.test(e.message));
  });

  it('keeps a user VNI outside the range, refuses a bad one', () => {
    assert.deepEqual(alloc('net-a', { type: 'vxlan', vni: '70000' }), { type: 'vxlan', vni: '70000' });
    assert.throws(() => alloc('net-b', { type: 'vxlan', vni: '0' }), /not a whole number in 1-16777215/);
    assert.throws(() => alloc('net-b', { type: 'tunnel' }), BadRequestError);
  });

  it('FreeNetwork releases the VNI for reuse; a range that is full says so', () => {
    const range = { first: 10, last: 11 };
    assert.equal(alloc('a', { type: 'vxlan' }, range).vni, '10');
    assert.equal(alloc('b', { type: 'vxlan' }, range).vni, '11');
    assert.throws(() => alloc('c', { type: 'vxlan' }, range), /no free VNI left in TSNET_VNI_RANGE 10-11/);
    assert.equal(free('a'), 10);
    assert.equal(free('a'), undefined, 'repeat: nothing to do');
    assert.equal(alloc('c', { type: 'vxlan' }, range).vni, '10');
  });

  it('survives a restart of the store', async () => {
    alloc('net-a', { type: 'vxlan' });
    await store.close();
    store = Store.open(dir);
    assert.equal(alloc('net-b', { type: 'vxlan' }).vni, '2');
    assert.equal(alloc('net-a', { type: 'vxlan' }).vni, '1');
  });
});
