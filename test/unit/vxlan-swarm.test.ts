/**
 * The Swarm pieces of VXLAN networks without a kernel: VNI allocation on the manager (driver/vni.ts)
 * over a real store in a temporary directory, the settings it reads, and peer learning's scope.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePeerCidrs, parseVniRange, readSettings, SettingsError } from '../../src/config/settings';
import { insideCidrs, learnedVteps, subnetOf } from '../../src/datapath/vxlan/flood';
import { BadRequestError } from '../../src/model/errors';
import { allocatedVnis, allocateVni, releaseVni } from '../../src/driver/vni';
import { Store } from '../../src/store/store';

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

describe('vxlan (Swarm): settings', () => {
  it('TSNET_VNI_RANGE: default 1-4095 (below Docker overlay VNIs), FIRST-LAST or one VNI', () => {
    assert.deepEqual(readSettings({}).vniRange, { first: 1, last: 4095 });
    assert.deepEqual(readSettings({ TSNET_VNI_RANGE: '100-199' }).vniRange, { first: 100, last: 199 });
    assert.deepEqual(parseVniRange('42'), { first: 42, last: 42 });
    for (const bad of ['0-10', '10-5', '1-16777216', 'x', '1-2-3']) assert.throws(() => parseVniRange(bad), SettingsError, bad);
  });

  it('TSNET_PEER_CIDRS: unset means the underlay subnet; a list of CIDRs otherwise', () => {
    assert.equal(readSettings({}).peerCidrs, undefined);
    assert.deepEqual(parsePeerCidrs('10.0.0.0/24, fd00::/64'), ['10.0.0.0/24', 'fd00::/64']);
    assert.deepEqual(parsePeerCidrs('none'), [], 'none: peers only, no learning');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.0.0.0/8', 'eth0/24']) assert.throws(() => parsePeerCidrs(bad), SettingsError, bad);
  });

  it('TSNET_DATA_ADDR_PORT: default 7947, 0 for off, a TCP port otherwise', () => {
    assert.equal(readSettings({}).dataAddrPort, 7947);
    assert.equal(readSettings({ TSNET_DATA_ADDR_PORT: '0' }).dataAddrPort, 0);
    assert.equal(readSettings({ TSNET_DATA_ADDR_PORT: '8000' }).dataAddrPort, 8000);
    for (const bad of ['65536', '-1', 'x', '80 80']) assert.throws(() => readSettings({ TSNET_DATA_ADDR_PORT: bad }), /TSNET_DATA_ADDR_PORT must be a TCP port/, bad);
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
