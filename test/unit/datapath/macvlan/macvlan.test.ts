/**
 * The macvlan data path without a kernel: the parent decisions as pure functions (parent.ts), and
 * the 802.1Q sub-interface bookkeeping (create / reuse / remove) against a recording stand-in kernel,
 * because the kernel of our test machines has no 802.1q support. Every request the data path makes
 * is recorded; the link-creation requests are encoded exactly as the netlink package sends them
 * (RTM_NEWLINK body: ifinfomsg + attributes) and compared byte for byte.
 */
import assert from 'node:assert/strict';
import { AttrStream, rt } from 'netlink';
import { DataPathError } from '../../../../src/datapath/datapath';
import { MacvlanDataPath, type LinkOps } from '../../../../src/datapath/macvlan/macvlan';
import { internalParentName, macvlanName } from '../../../../src/datapath/shared/names';
import { mayRemoveParent, parentNameOf, parentRefusal, ParentRegistry, parseVlanParent, planParent } from '../../../../src/datapath/macvlan/parent';
import type { EndpointRecord, NetworkRecord } from '../../../../src/model/records';
import { testLogger } from '../../../../src/log';
import * as nl from '../../../../src/netlink';

const INSTANCE = 'unit';
const NET_A = 'a'.repeat(64);
const NET_B = 'b'.repeat(64);
const EP_1 = '1'.repeat(64);
const markerOf = (object: 'net' | 'ep', id: string) => `tsnet:${INSTANCE}:macvlan:${object}:${id}`;

function hex(text: string): string {
  return text.replace(/\s+/g, '');
}

/** The RTM_NEWLINK body (ifinfomsg + attributes) the netlink package sends for a createLink(spec). */
function newLinkBytes(spec: nl.LinkSpec): string {
  const { data, attrs } = nl.createLinkRequest(spec);
  const out = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data, attrs }, out);
  return Buffer.concat(out.bufs).toString('hex');
}

function link(fields: Partial<nl.Link> & { name: string }): nl.Link {
  return { index: 9, mtu: 1500, up: true, ...fields };
}

/**
 * A stand-in for the kernel's link table: enough of rtnetlink's behaviour for the data path (EEXIST,
 * ENODEV, deleting a link deletes what sits on it and a veth's peer) and a log of every request.
 */
class RecordingKernel implements LinkOps {
  readonly links = new Map<number, nl.Link>();
  readonly requests: string[] = [];
  readonly created: nl.LinkSpec[] = [];
  private nextIndex = 1;

  constructor(readonly vlanSupported: boolean) {}

  add(fields: Partial<nl.Link> & { name: string }): nl.Link {
    const l: nl.Link = { index: this.nextIndex++, mtu: 1500, up: true, ...fields };
    this.links.set(l.index, l);
    return l;
  }

  private lookup(ref: nl.LinkRef): nl.Link | undefined {
    if (typeof ref === 'number') return this.links.get(ref);
    const name = typeof ref === 'string' ? ref : ref.name;
    return [...this.links.values()].find((l) => l.name === name);
  }

  private require(op: string, ref: nl.LinkRef): nl.Link {
    const l = this.lookup(ref);
    if (!l) throw new nl.NetlinkError(op, 'ENODEV');
    return l;
  }

  async findLink(ref: nl.LinkRef): Promise<nl.Link | undefined> {
    const l = this.lookup(ref);
    return l && { ...l };
  }

  async listLinks(): Promise<nl.Link[]> {
    return [...this.links.values()].map((l) => ({ ...l }));
  }

  async createLink(spec: nl.LinkSpec): Promise<nl.Link> {
    const op = `create ${spec.kind} ${spec.name}`;
    this.requests.push(op);
    this.created.push(spec);
    if (spec.kind === 'vlan' && !this.vlanSupported) throw new nl.NetlinkError(op, 'ENOTSUP');
    if (this.lookup(spec.name)) throw new nl.NetlinkError(op, 'EEXIST');
    const common = { name: spec.name, kind: spec.kind, up: spec.up === true, ...(spec.mac ? { mac: spec.mac } : {}) };
    if (spec.kind === 'veth') {
      const a = this.add({ ...common, mtu: spec.mtu ?? 1500 });
      const b = this.add({ name: spec.peer.name, kind: 'veth', mtu: spec.peer.mtu ?? 1500, up: false, parentIndex: a.index });
      a.parentIndex = b.index;
      return { ...a };
    }
    const parent = 'parentIndex' in spec ? this.require(op, spec.parentIndex) : undefined;
    const made = this.add({ ...common, mtu: spec.mtu ?? parent?.mtu ?? 1500, ...(parent ? { parentIndex: parent.index } : {}) });
    if (spec.kind === 'vlan') made.vlan = { vlanId: spec.vlanId, protocol: spec.protocol ?? '802.1q' };
    if (spec.kind === 'macvlan') made.macvlan = { mode: spec.mode };
    return { ...made };
  }

  async deleteLink(ref: nl.LinkRef): Promise<boolean> {
    const l = this.lookup(ref);
    this.requests.push(`delete ${l?.name ?? String(ref)}`);
    if (!l) return false;
    this.remove(l);
    return true;
  }

  private remove(l: nl.Link): void {
    this.links.delete(l.index);
    for (const other of [...this.links.values()]) {
      if (other.parentIndex === l.index) this.remove(other); // upper devices and a veth's peer go too
    }
  }

  async setAlias(ref: nl.LinkRef, alias: string): Promise<void> {
    const l = this.require('set alias', ref);
    this.requests.push(`set alias ${l.name}`);
    l.alias = alias;
  }

  async setLinkUp(ref: nl.LinkRef): Promise<void> {
    const l = this.require('set up', ref);
    this.requests.push(`set up ${l.name}`);
    l.up = true;
  }

  async setMtu(ref: nl.LinkRef, mtu: number): Promise<void> {
    const l = this.require('set mtu', ref);
    this.requests.push(`set mtu ${l.name} ${mtu}`);
    l.mtu = mtu;
  }

  async setMac(ref: nl.LinkRef, mac: string): Promise<void> {
    const l = this.require('set mac', ref);
    this.requests.push(`set mac ${l.name} ${mac}`);
    l.mac = mac;
  }

  names(): string[] {
    return [...this.links.values()].map((l) => l.name).sort();
  }
}

function network(id: string, parent?: string): NetworkRecord {
  return {
    id,
    type: 'macvlan',
    options: { type: 'macvlan', parent, mode: 'bridge', interfacePrefix: 'eth' },
    generic: {},
    ipv4: [],
    ipv6: [],
    internal: false,
    enableIPv6: false,
    createdAt: '2024-01-01T00:00:00.000Z',
    datapath: {},
  };
}

function endpoint(net: NetworkRecord, id = EP_1): EndpointRecord {
  return {
    networkId: net.id,
    id,
    address: '192.168.77.2/24',
    macAddress: '02:42:c0:a8:4d:02',
    macFromDriver: true,
    portBindings: [],
    exposedPorts: [],
    externalConnectivity: false,
    createdAt: '2024-01-01T00:00:00.000Z',
    datapath: {},
  };
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof DataPathError, `expected DataPathError, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('macvlan parent decisions (parent.ts)', () => {
  it('parseVlanParent: IFACE.VLAN as Docker reads it', () => {
    assert.deepEqual(parseVlanParent('eth0.10'), { base: 'eth0', vlanId: 10 });
    assert.deepEqual(parseVlanParent('bond0.2.100'), { base: 'bond0.2', vlanId: 100 });
    assert.deepEqual(parseVlanParent('eth0.4094'), { base: 'eth0', vlanId: 4094 });
    for (const name of ['eth0', 'eth0.', '.10', 'eth0.0', 'eth0.4095', 'br.lan', 'eth0.10a', 'eth0.12345']) {
      assert.equal(parseVlanParent(name), undefined, name);
    }
  });

  it('parentNameOf: -o parent, else the network\'s own internal parent', () => {
    assert.equal(parentNameOf(NET_A, 'eth0'), 'eth0');
    assert.equal(parentNameOf(NET_A, undefined), internalParentName(NET_A));
    assert.equal(internalParentName(NET_A), 'tsmpaaaaaaaaaaa');
  });

  it('planParent: use what exists (created only if it carries our marker), create IFACE.VLAN and internal parents, refuse the rest', () => {
    const own = markerOf('net', NET_A);
    const eth0 = link({ name: 'eth0' });
    assert.deepEqual(planParent(NET_A, 'eth0', eth0, own), { action: 'use', kind: 'existing', link: eth0, created: false });
    const sub = link({ name: 'eth0.10', kind: 'vlan' });
    assert.deepEqual(planParent(NET_A, 'eth0.10', sub, own), { action: 'use', kind: 'existing', link: sub, created: false });
    const ours = link({ name: 'eth0.10', kind: 'vlan', alias: own });
    assert.deepEqual(planParent(NET_A, 'eth0.10', ours, own), { action: 'use', kind: 'vlan', link: ours, created: true });
    assert.deepEqual(planParent(NET_A, 'eth0.10', undefined, own), { action: 'create-vlan', name: 'eth0.10', vlan: { base: 'eth0', vlanId: 10 } });
    assert.deepEqual(planParent(NET_A, undefined, undefined, own), { action: 'create-internal', name: 'tsmpaaaaaaaaaaa' });
    assert.deepEqual(planParent(NET_A, 'eth1', undefined, own), { action: 'refuse', reason: 'parent interface eth1 does not exist' });
  });

  it('parentRefusal: loopback, tsnet-marked links and the far end of a tsnet veth are refused', () => {
    const own = markerOf('net', NET_A);
    assert.equal(parentRefusal(link({ name: 'eth0' }), own), undefined);
    assert.equal(parentRefusal(link({ name: 'tsmpaaaaaaaaaaa', alias: own }), own), undefined);
    assert.match(parentRefusal(link({ name: 'lo' }), own)!, /^loopback interface lo is not a valid macvlan parent$/);
    assert.equal(
      parentRefusal(link({ name: 'ts-0123456789', alias: 'tsnet:other:bridge:net:0123456789abcdef' }), own),
      'interface ts-0123456789 belongs to tsnet bridge network 0123456789ab (instance other) and cannot be a macvlan parent',
    );
    assert.match(parentRefusal(link({ name: 'x', alias: markerOf('net', NET_B) }), own)!, /belongs to tsnet macvlan network bbbbbbbbbbbb \(instance unit\)/);
    const host = link({ name: 'tsv1', index: 4, kind: 'veth', parentIndex: 5, alias: 'tsnet:unit:bridge:ep:1111' });
    const container = link({ name: 'tsc1', index: 5, kind: 'veth', parentIndex: 4 });
    assert.equal(
      parentRefusal(container, own, host),
      "interface tsc1 is the other end of tsnet's veth tsv1 (bridge endpoint 1111) and cannot be a macvlan parent",
    );
    assert.equal(parentRefusal(container, own, link({ name: 'plain', index: 4, kind: 'veth' })), undefined);
  });

  it('mayRemoveParent: only a link with the network\'s own marker', () => {
    const own = markerOf('net', NET_A);
    assert.equal(mayRemoveParent(link({ name: 'eth0.10', alias: own }), own), true);
    assert.equal(mayRemoveParent(link({ name: 'eth0.10' }), own), false);
    assert.equal(mayRemoveParent(link({ name: 'eth0.10', alias: markerOf('net', NET_B) }), own), false);
    assert.equal(mayRemoveParent(undefined, own), false);
  });

  it('ParentRegistry: one network per parent; repeat claims, release and reset', () => {
    const r = new ParentRegistry();
    assert.equal(r.claim('eth0', NET_A), true);
    assert.equal(r.claim('eth0', NET_A), false);
    assert.throws(() => r.claim('eth0', NET_B), (e: Error) => e instanceof DataPathError && e.message === 'network aaaaaaaaaaaa already uses parent eth0');
    assert.equal(r.claim('eth0.10', NET_B), true, 'a sub-interface is another parent');
    r.release('eth0', NET_B); // not B's: no effect
    assert.equal(r.userOf('eth0'), NET_A);
    r.release('eth0', NET_A);
    assert.equal(r.claim('eth0', NET_B), true);
    assert.deepEqual(
      r.reset([
        { parent: 'eth0', networkId: NET_A },
        { parent: 'eth0', networkId: NET_B },
      ]),
      [{ parent: 'eth0', networkId: NET_B, holder: NET_A }],
    );
    assert.equal(r.userOf('eth0'), NET_A);
    assert.equal(r.userOf('eth0.10'), undefined, 'reset forgets everything else');
  });
});

describe('macvlan netlink requests (byte for byte)', () => {
  it('the 802.1Q sub-interface createNetwork asks for: eth0.10 = VLAN 10 (802.1Q) on eth0, up', async () => {
    const kernel = new RecordingKernel(false);
    const eth0 = kernel.add({ name: 'eth0' });
    const dp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel });
    await dp.createNetwork(network(NET_A, 'eth0.10')).catch(() => undefined);
    assert.deepEqual(kernel.created, [{ kind: 'vlan', name: 'eth0.10', parentIndex: eth0.index, vlanId: 10, up: true }]);
    assert.equal(
      newLinkBytes(kernel.created[0]!),
      hex(`
        00 00 0000 00000000 01000000 01000000
        0c00 0300 657468302e313000
        2400 1200
          0900 0100 766c616e00 000000
          1400 0280
            0600 0100 0a00 0000
            0600 0500 8100 0000
        0800 0500 01000000`),
    );
  });

  it('an endpoint\'s macvlan: name, MTU, MAC, IFLA_LINK = parent, IFLA_MACVLAN_MODE; not up', async () => {
    const kernel = new RecordingKernel(false);
    kernel.add({ name: 'pad0' });
    const eth0 = kernel.add({ name: 'eth0', mtu: 1500 });
    const dp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel });
    const net = { ...network(NET_A, 'eth0'), options: { type: 'macvlan' as const, parent: 'eth0', mode: 'private' as const, mtu: 1400, interfacePrefix: 'eth' } };
    net.datapath = await dp.createNetwork(net);
    const ep = { ...endpoint(net, '0123456789abcdef'.repeat(4)) };
    await dp.createEndpoint(net, ep);
    assert.deepEqual(kernel.created, [
      { kind: 'macvlan', name: 'tsm0123456789ab', parentIndex: eth0.index, mode: 'private', mtu: 1400, mac: '02:42:c0:a8:4d:02' },
    ]);
    assert.equal(
      newLinkBytes(kernel.created[0]!),
      hex(`
        00 00 0000 00000000 00000000 00000000
        1400 0300 74736d30313233343536373839616200
        1c00 1200
          0c00 0100 6d6163766c616e00
          0c00 0280
            0800 0100 01000000
        0800 0400 78050000
        0a00 0100 0242c0a84d02 0000
        0800 0500 02000000`),
    );
    assert.deepEqual(kernel.requests, ['create macvlan tsm0123456789ab', 'set alias tsm0123456789ab']);
  });
});

describe('macvlan 802.1Q sub-interface bookkeeping (recorded requests)', () => {
  let kernel: RecordingKernel;
  let dp: MacvlanDataPath;

  beforeEach(() => {
    kernel = new RecordingKernel(true);
    kernel.add({ name: 'lo', mtu: 65536 });
    kernel.add({ name: 'eth0' });
    dp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel });
  });

  it('creates a missing IFACE.VLAN, marks it, records it, and removes it with its network', async () => {
    const net = network(NET_A, 'eth0.10');
    net.datapath = await dp.createNetwork(net);
    assert.deepEqual(net.datapath, {
      parent: 'eth0.10',
      parentIndex: 3,
      parentKind: 'vlan',
      createdParent: true,
      vlan: { base: 'eth0', vlanId: 10 },
      internalOnly: false,
      mode: 'bridge',
    });
    assert.deepEqual(kernel.requests, ['create vlan eth0.10', 'set alias eth0.10']);
    assert.equal((await kernel.findLink('eth0.10'))?.alias, markerOf('net', NET_A));

    const ep = endpoint(net);
    await dp.createEndpoint(net, ep);
    assert.equal((await kernel.findLink(macvlanName(EP_1)))?.parentIndex, 3);

    kernel.requests.length = 0;
    await dp.deleteEndpoint(net, ep);
    await dp.deleteNetwork(net);
    assert.deepEqual(kernel.requests, [`delete ${macvlanName(EP_1)}`, 'delete eth0.10']);
    assert.deepEqual(kernel.names(), ['eth0', 'lo']);
  });

  it('reuses a sub-interface that existed before and never removes it', async () => {
    kernel.add({ name: 'eth0.20', kind: 'vlan', parentIndex: 2, vlan: { vlanId: 20 } });
    const net = network(NET_A, 'eth0.20');
    net.datapath = await dp.createNetwork(net);
    assert.equal(net.datapath.createdParent, false);
    assert.equal(net.datapath.parentKind, 'existing');
    await dp.deleteNetwork(net);
    // Even a stored state that claims otherwise does not make tsnet remove it: only its marker would.
    await dp.deleteNetwork({ ...net, datapath: { ...net.datapath, createdParent: true } });
    assert.deepEqual(kernel.requests, []);
    assert.deepEqual(kernel.names(), ['eth0', 'eth0.20', 'lo']);
  });

  it('a second network on the sub-interface is refused; a repeat of the first adopts it (no second create)', async () => {
    const a = network(NET_A, 'eth0.10');
    a.datapath = await dp.createNetwork(a);
    await rejectsWith(dp.createNetwork(network(NET_B, 'eth0.10')), /^network aaaaaaaaaaaa already uses parent eth0\.10$/);
    assert.deepEqual(await dp.createNetwork(a), a.datapath);
    assert.deepEqual(kernel.requests, ['create vlan eth0.10', 'set alias eth0.10']);
    // Another VLAN on the same interface is another parent.
    await dp.createNetwork(network(NET_B, 'eth0.11'));
    assert.deepEqual(kernel.names(), ['eth0', 'eth0.10', 'eth0.11', 'lo']);
  });

  it('after a restart, reconcile rebuilds who uses what and recreates a sub-interface it had created', async () => {
    const a = network(NET_A, 'eth0.10');
    a.datapath = await dp.createNetwork(a);
    await kernel.deleteLink('eth0.10');
    kernel.requests.length = 0;

    const restarted = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel });
    await restarted.reconcile([a], []);
    assert.deepEqual(kernel.requests, ['create vlan eth0.10', 'set alias eth0.10']);
    await rejectsWith(restarted.createNetwork(network(NET_B, 'eth0.10')), /already uses parent eth0\.10/);
    await restarted.deleteNetwork(a);
    assert.deepEqual(kernel.names(), ['eth0', 'lo']);
  });

  it('reconcile removes an orphan sub-interface of ours, keeps one that is not', async () => {
    const a = network(NET_A, 'eth0.10');
    await dp.createNetwork(a);
    kernel.add({ name: 'eth0.30', kind: 'vlan', parentIndex: 2 });
    await new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel }).reconcile([], []);
    assert.deepEqual(kernel.names(), ['eth0', 'eth0.30', 'lo']);
  });

  it('without 802.1q in the kernel: a clear error, nothing left, the parent free again', async () => {
    kernel = new RecordingKernel(false);
    kernel.add({ name: 'eth0' });
    dp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel });
    const expected = /^kernel refused to create 802\.1q sub-interface eth0\.10: create vlan eth0\.10: ENOTSUP \(is the 8021q module available\?\)$/;
    await rejectsWith(dp.createNetwork(network(NET_A, 'eth0.10')), expected);
    await rejectsWith(dp.createNetwork(network(NET_B, 'eth0.10')), expected);
    assert.deepEqual(kernel.requests, ['create vlan eth0.10', 'create vlan eth0.10']);
    assert.deepEqual(kernel.names(), ['eth0']);
  });

  it('a failure after creating the sub-interface (MTU too large) removes it again', async () => {
    const net = { ...network(NET_A, 'eth0.10'), options: { type: 'macvlan' as const, parent: 'eth0.10', mode: 'bridge' as const, mtu: 9000, interfacePrefix: 'eth' } };
    await rejectsWith(dp.createNetwork(net), /^MTU 9000 is larger than the MTU 1500 of parent eth0\.10$/);
    assert.deepEqual(kernel.requests, ['create vlan eth0.10', 'set alias eth0.10', 'delete eth0.10']);
    assert.deepEqual(kernel.names(), ['eth0', 'lo']);
    // ... and the parent is free for the next attempt.
    await dp.createNetwork(network(NET_B, 'eth0.10'));
  });

  it('refuses to build on a base interface that is tsnet\'s or down', async () => {
    kernel.add({ name: 'ts-0123456789', kind: 'bridge', alias: 'tsnet:unit:bridge:net:0123456789abcdef' });
    await rejectsWith(dp.createNetwork(network(NET_A, 'ts-0123456789.5')), /^interface ts-0123456789 belongs to tsnet bridge network/);
    kernel.add({ name: 'eth1', up: false });
    await rejectsWith(dp.createNetwork(network(NET_A, 'eth1.5')), /^cannot create 802\.1q sub-interface eth1\.5: eth1 is down$/);
    assert.deepEqual(kernel.requests, []);
  });
});
