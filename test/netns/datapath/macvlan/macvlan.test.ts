/**
 * MacvlanDataPath against the real kernel. The whole mocha run is in a private network namespace
 * (`unshare --net mocha ...`); `before` skips loudly when it is not. Fixtures are built with `ip` and
 * assertions read the kernel's state back with `ip -j` (and listLinks() for the macvlan mode). Every
 * test removes all links in afterEach, also after a failure.
 *
 * The parent is one end of a veth pair (this kernel has no dummy and no 802.1q): mvp0 <-> mvq0.
 */
import assert from 'node:assert/strict';
import { DataPathError } from '../../../../src/datapath/datapath';
import { MacvlanDataPath, type LinkOps } from '../../../../src/datapath/macvlan/macvlan';
import { internalParentName, internalParentPeerName, macvlanName } from '../../../../src/datapath/shared/names';
import type { EndpointRecord, MacvlanMode, NetworkRecord } from '../../../../src/model/records';
import { testLogger } from '../../../../src/log';
import * as nl from '../../../../src/netlink';
import { ChildNs, endpointRecord, ipamPool, linkNames, macvlanOptions, networkRecord, newId, requireThrowawayNetns, resetIptables, runSync } from '../../../lab';
import { Firewall } from '../../../../src/firewall/firewall';
import { macvlanSinkOf } from '../../../../src/datapath/shared/firewall-network';

const INSTANCE = 'nstest';
const PARENT = 'mvp0';
const PARENT_PEER = 'mvq0';

interface NetOptions {
  parent?: string;
  mode?: MacvlanMode;
  mtu?: number;
  internal?: boolean;
}

function network(id: string, o: NetOptions = {}): NetworkRecord {
  return networkRecord(macvlanOptions({ parent: o.parent, mode: o.mode ?? 'bridge', mtu: o.mtu }), {
    id,
    ipv4: [ipamPool('192.168.77.0/24', '192.168.77.1/24')],
    internal: o.internal ?? false,
  });
}

let macCounter = 2;
function endpoint(net: NetworkRecord, o: { id?: string; mac?: string; sandboxKey?: string } = {}): EndpointRecord {
  const n = macCounter++;
  return endpointRecord(net, {
    id: o.id ?? newId(),
    address: `192.168.77.${n}/24`,
    macAddress: o.mac ?? `02:42:c0:a8:4d:${n.toString(16).padStart(2, '0')}`,
    ...(o.sandboxKey ? { sandboxKey: o.sandboxKey } : {}),
  });
}

/** `ip -j -d link show` entry, with the kind-specific data. */
interface IpLinkDetails {
  ifindex: number;
  ifname: string;
  mtu: number;
  flags: string[];
  ifalias?: string;
  address?: string;
  link?: string;
  link_index?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

function ipDetails(name: string): IpLinkDetails | undefined {
  const all = JSON.parse(runSync('ip', ['-j', '-d', 'link', 'show'])) as IpLinkDetails[];
  return all.find((l) => l.ifname === name);
}

/** Every global-scope address on every link. */
function globalAddresses(): string[] {
  const all = JSON.parse(runSync('ip', ['-j', 'addr', 'show'])) as { ifname: string; addr_info: { local: string; prefixlen: number; scope: string }[] }[];
  return all.flatMap((l) => l.addr_info.filter((a) => a.scope === 'global').map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`));
}

function makeParent(name = PARENT, peer = PARENT_PEER, mtu = 1500): void {
  runSync('ip', ['link', 'add', name, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', peer, 'mtu', String(mtu)]);
  runSync('ip', ['link', 'set', name, 'up']);
  runSync('ip', ['link', 'set', peer, 'up']);
}

async function assertRejects(promise: Promise<unknown>, pattern: RegExp, type: Function = DataPathError): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

function marker(object: 'net' | 'ep', id: string, instance = INSTANCE): string {
  return `tsnet:${instance}:macvlan:${object}:${id}`;
}

/** Can this kernel make 802.1Q sub-interfaces? (Probed with ip on a throwaway veth.) */
function kernelHasVlan(): boolean {
  runSync('ip', ['link', 'add', 'vprobe0', 'type', 'veth', 'peer', 'name', 'vprobe1']);
  try {
    runSync('ip', ['link', 'add', 'link', 'vprobe0', 'name', 'vprobe0.9', 'type', 'vlan', 'id', '9']);
    return true;
  } catch {
    return false;
  } finally {
    runSync('ip', ['link', 'del', 'vprobe0']);
  }
}

describe('macvlan data path (netns)', function () {
  this.timeout(20000);
  let dp: MacvlanDataPath;

  before(function () {
    requireThrowawayNetns(this);
  });

  beforeEach(() => {
    dp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE });
    makeParent();
  });

  afterEach(async () => {
    const links = (await nl.listLinks()).filter((l) => l.name !== 'lo');
    for (const link of links.filter((l) => l.kind === 'macvlan' || l.kind === 'vlan')) await nl.deleteLink(link.index);
    for (const link of links.filter((l) => l.kind !== 'macvlan' && l.kind !== 'vlan')) await nl.deleteLink(link.index);
    assert.deepEqual(linkNames(), [], 'clean-up left links behind');
  });

  describe('networks on an existing parent', () => {
    it('uses the parent as is and records it; the parent is not changed', async () => {
      const before = ipDetails(PARENT)!;
      const net = network(newId(), { parent: PARENT });
      const state = await dp.createNetwork(net);
      assert.deepEqual(state, {
        parent: PARENT,
        parentIndex: before.ifindex,
        parentKind: 'existing',
        createdParent: false,
        internalOnly: false,
        mode: 'bridge',
      });
      assert.deepEqual(ipDetails(PARENT), before);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
      await dp.deleteNetwork({ ...net, datapath: state });
      assert.deepEqual(ipDetails(PARENT), before, 'deleting the network leaves the parent untouched');
    });

    it('refuses a parent that does not exist, or is down', async () => {
      await assertRejects(dp.createNetwork(network(newId(), { parent: 'nope0' })), /^parent interface nope0 does not exist$/);
      runSync('ip', ['link', 'set', PARENT, 'down']);
      await assertRejects(dp.createNetwork(network(newId(), { parent: PARENT })), /^parent interface mvp0 is down$/);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
    });

    it('refuses links tsnet must not touch: loopback, tsnet-marked links, the other end of a tsnet veth', async () => {
      await assertRejects(dp.createNetwork(network(newId(), { parent: 'lo' })), /^loopback interface lo is not a valid macvlan parent$/);

      runSync('ip', ['link', 'add', 'mvbr0', 'type', 'bridge']);
      runSync('ip', ['link', 'set', 'mvbr0', 'alias', 'tsnet:other:bridge:net:abcdef0123456789', 'up']);
      await assertRejects(
        dp.createNetwork(network(newId(), { parent: 'mvbr0' })),
        /^interface mvbr0 belongs to tsnet bridge network abcdef012345 \(instance other\) and cannot be a macvlan parent$/,
      );

      // A bridge endpoint's veth: the host end is marked, the container end is not.
      runSync('ip', ['link', 'add', 'tsvhost0', 'type', 'veth', 'peer', 'name', 'tsccont0']);
      runSync('ip', ['link', 'set', 'tsvhost0', 'alias', `tsnet:${INSTANCE}:bridge:ep:0123456789ab`, 'up']);
      runSync('ip', ['link', 'set', 'tsccont0', 'up']);
      await assertRejects(dp.createNetwork(network(newId(), { parent: 'tsvhost0' })), /^interface tsvhost0 belongs to tsnet bridge endpoint/);
      await assertRejects(
        dp.createNetwork(network(newId(), { parent: 'tsccont0' })),
        /^interface tsccont0 is the other end of tsnet's veth tsvhost0 \(bridge endpoint 0123456789ab\) and cannot be a macvlan parent$/,
      );

      // Another macvlan network's endpoint link.
      const net = network(newId(), { parent: PARENT });
      await dp.createNetwork(net);
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      runSync('ip', ['link', 'set', macvlanName(ep.id), 'up']);
      await assertRejects(
        dp.createNetwork(network(newId(), { parent: macvlanName(ep.id) })),
        new RegExp(`^interface ${macvlanName(ep.id)} belongs to tsnet macvlan endpoint ${ep.id.slice(0, 12)} \\(instance ${INSTANCE}\\)`),
      );
      for (const name of ['mvbr0', 'tsvhost0', 'tsccont0']) assert.equal(ipDetails(name)?.flags.includes('UP'), true, `${name} untouched`);
    });

    it('refuses a second network on the same parent, as Docker does, until the first is deleted', async () => {
      const a = network(newId(), { parent: PARENT });
      const stateA = await dp.createNetwork(a);
      const b = network(newId(), { parent: PARENT, mode: 'private' });
      await assertRejects(dp.createNetwork(b), new RegExp(`^network ${a.id.slice(0, 12)} already uses parent mvp0$`));
      assert.deepEqual(await dp.createNetwork(a), stateA, 'a repeat of the same network is fine');
      await dp.deleteNetwork({ ...a, datapath: stateA });
      await dp.createNetwork(b);
    });

    it('two concurrent creates on one parent: exactly one wins', async () => {
      const results = await Promise.allSettled([dp.createNetwork(network(newId(), { parent: PARENT })), dp.createNetwork(network(newId(), { parent: PARENT }))]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      assert.match((rejected.reason as Error).message, /already uses parent mvp0/);
    });

    it('MTU: the network\'s, never larger than the parent\'s (clear error); default is the parent\'s', async () => {
      await assertRejects(dp.createNetwork(network(newId(), { parent: PARENT, mtu: 9000 })), /^MTU 9000 is larger than the MTU 1500 of parent mvp0$/);
      await assertRejects(dp.createNetwork(network(newId(), { parent: PARENT, mtu: 20 })), /^invalid MTU 20/);

      const small = network(newId(), { parent: PARENT, mtu: 1400 });
      small.datapath = await dp.createNetwork(small);
      const ep = endpoint(small);
      await dp.createEndpoint(small, ep);
      assert.equal(ipDetails(macvlanName(ep.id))?.mtu, 1400);
      await dp.deleteEndpoint(small, ep);
      await dp.deleteNetwork(small);

      runSync('ip', ['link', 'set', PARENT, 'mtu', '1450']);
      const dflt = network(newId(), { parent: PARENT });
      dflt.datapath = await dp.createNetwork(dflt);
      const ep2 = endpoint(dflt);
      await dp.createEndpoint(dflt, ep2);
      assert.equal(ipDetails(macvlanName(ep2.id))?.mtu, 1450);
    });

    it('a parent that existed before and looks like IFACE.VLAN is used and never removed', async () => {
      makeParent('mvx0.20', 'mvx0p');
      const net = network(newId(), { parent: 'mvx0.20' });
      const state = await dp.createNetwork(net);
      assert.equal(state.createdParent, false);
      assert.equal(state.parentKind, 'existing');
      await dp.deleteNetwork({ ...net, datapath: state });
      assert.ok(ipDetails('mvx0.20'), 'pre-existing parent kept');
      assert.equal(ipDetails('mvx0.20')?.ifalias, undefined);
    });
  });

  describe('802.1q parent (IFACE.VLAN that does not exist)', () => {
    it('creates the sub-interface where the kernel can, else fails clearly and leaves nothing behind', async function () {
      const before = linkNames();
      const net = network(newId(), { parent: `${PARENT}.10` });
      if (!kernelHasVlan()) {
        const expected = /^kernel refused to create 802\.1q sub-interface mvp0\.10: create vlan mvp0\.10: (ENOTSUP|EOPNOTSUPP) \(is the 8021q module available\?\)$/;
        await assertRejects(dp.createNetwork(net), expected);
        assert.deepEqual(linkNames(), before, 'nothing left behind');
        assert.equal(ipDetails(PARENT)?.ifalias, undefined, 'the base interface is not marked');
        // The failed create released its claim on the parent: a retry meets the kernel again, not "already uses".
        await assertRejects(dp.createNetwork(network(newId(), { parent: `${PARENT}.10` })), expected);
        return;
      }
      const state = await dp.createNetwork(net);
      assert.equal(state.createdParent, true);
      assert.deepEqual(state.vlan, { base: PARENT, vlanId: 10 });
      const sub = ipDetails(`${PARENT}.10`)!;
      assert.equal(sub.linkinfo?.info_kind, 'vlan');
      assert.equal(sub.ifalias, marker('net', net.id));
      await dp.deleteNetwork({ ...net, datapath: state });
      assert.deepEqual(linkNames(), before, 'removed with its network');
    });

    it('refuses when the interface to create it on does not exist', async () => {
      await assertRejects(
        dp.createNetwork(network(newId(), { parent: 'nobase0.10' })),
        /^parent interface nobase0\.10 does not exist, and neither does nobase0 to create it on$/,
      );
      runSync('ip', ['link', 'set', PARENT, 'down']);
      await assertRejects(dp.createNetwork(network(newId(), { parent: `${PARENT}.11` })), /^cannot create 802\.1q sub-interface mvp0\.11: mvp0 is down$/);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
    });
  });

  describe('parent-less (internal-only) networks', () => {
    it('creates its own marked veth parent, up, with the MTU; removes it with the network', async () => {
      const net = network(newId(), { mtu: 9000 });
      const state = await dp.createNetwork(net);
      const name = internalParentName(net.id);
      const peer = internalParentPeerName(net.id);
      assert.match(name, /^tsmp[0-9a-f]{11}$/);
      assert.deepEqual(state, {
        parent: name,
        parentIndex: ipDetails(name)!.ifindex,
        parentKind: 'internal',
        createdParent: true,
        internalOnly: true,
        mode: 'bridge',
      });
      for (const end of [name, peer]) {
        const link = ipDetails(end)!;
        assert.equal(link.linkinfo?.info_kind, 'veth');
        assert.equal(link.ifalias, marker('net', net.id));
        assert.equal(link.mtu, 9000);
        assert.ok(link.flags.includes('UP') && link.flags.includes('LOWER_UP'), `${end} up with carrier: ${link.flags}`);
      }
      net.datapath = state;
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      assert.equal(ipDetails(macvlanName(ep.id))?.link, name);
      assert.equal(ipDetails(macvlanName(ep.id))?.mtu, 9000);
      assert.deepEqual(await dp.createNetwork(net), state, 'idempotent');
      await dp.deleteEndpoint(net, ep);
      await dp.deleteNetwork(net);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
    });

    it('--internal with -o parent: the LAN parent is not used, the network gets its own internal parent', async () => {
      const net = network(newId(), { parent: PARENT, internal: true });
      const state = await dp.createNetwork(net);
      assert.equal(state.parent, internalParentName(net.id));
      assert.equal(state.internalOnly, true);
      net.datapath = state;
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      assert.equal(ipDetails(macvlanName(ep.id))?.link, internalParentName(net.id), 'not on the LAN parent');
      await dp.deleteEndpoint(net, ep);
      await dp.deleteNetwork(net);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
    });

    it('the sink of the internal parent is a dead end for IP: the firewall drops what reaches the host through it', async () => {
      const fw = new Firewall({ backend: 'nft' });
      const fdp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, firewall: fw });
      const net = network(newId());
      const inside = await ChildNs.start('mvin');
      try {
        net.datapath = await fdp.createNetwork(net);
        const ep = endpoint(net);
        await fdp.createEndpoint(net, ep);
        const sink = internalParentPeerName(net.id);
        const sinkMac = ipDetails(sink)!.address!;
        // A container that routes through the sink's MAC, and a host address with a way back.
        runSync('ip', ['link', 'set', macvlanName(ep.id), 'netns', String(inside.pid)]);
        inside.sh(`ip addr add 192.168.77.2/24 dev ${macvlanName(ep.id)}; ip link set ${macvlanName(ep.id)} up`);
        inside.sh(`ip neigh add 192.168.77.1 lladdr ${sinkMac} dev ${macvlanName(ep.id)}; ip route add default via 192.168.77.1`);
        runSync('ip', ['addr', 'add', '10.99.9.1/32', 'dev', PARENT]);
        runSync('ip', ['route', 'add', '192.168.77.0/24', 'dev', sink]);
        assert.equal(inside.ping('10.99.9.1'), false, 'with the rules: no host address through the sink');
        await fw.removeNetwork(macvlanSinkOf(net));
        assert.equal(inside.ping('10.99.9.1'), true, 'without them the host answers (the test can fail)');
        await fw.rebuild([macvlanSinkOf(net)]);
        assert.equal(inside.ping('10.99.9.1'), false, 'rules back');
        await fdp.deleteNetwork(net);
        assert.ok(!(await fw.save(4)).includes(`tsnet:tsnet:net:${net.id.slice(0, 12)}`), 'rules gone with the network');
      } finally {
        inside.stop();
        await resetIptables();
      }
    });

    it('an endpoint recreates a missing internal parent', async () => {
      const net = network(newId());
      net.datapath = await dp.createNetwork(net);
      runSync('ip', ['link', 'del', internalParentName(net.id)]);
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      assert.equal(ipDetails(macvlanName(ep.id))?.link, internalParentName(net.id));
      assert.equal(ipDetails(internalParentPeerName(net.id))?.ifalias, marker('net', net.id));
    });

    it('refuses a foreign link with the internal parent\'s name and leaves it alone', async () => {
      const id = newId();
      makeParent(internalParentName(id), 'mvforeign');
      await assertRejects(dp.createNetwork(network(id)), new RegExp(`^interface ${internalParentName(id)} already exists and is not managed by tsnet$`));
      assert.equal(ipDetails(internalParentName(id))?.ifalias, undefined);
    });
  });

  describe('endpoints', () => {
    const modes: MacvlanMode[] = ['bridge', 'private', 'vepa', 'passthru'];
    for (const mode of modes) {
      it(`${mode} mode: a marked macvlan on the parent with the mode, MTU and MAC, read back from the kernel`, async () => {
        const net = network(newId(), { parent: PARENT, mode });
        net.datapath = await dp.createNetwork(net);
        const ep = endpoint(net);
        const state = await dp.createEndpoint(net, ep);
        const name = macvlanName(ep.id);
        assert.deepEqual(state, { ifname: name });
        assert.match(name, /^tsm[0-9a-f]{12}$/);

        const kernel = (await nl.listLinks()).find((l) => l.name === name)!;
        assert.deepEqual(kernel.macvlan, { mode });
        const seen = ipDetails(name)!;
        assert.equal(seen.linkinfo?.info_kind, 'macvlan');
        assert.equal(seen.linkinfo?.info_data?.mode, mode);
        assert.equal(seen.link, PARENT);
        assert.equal(seen.mtu, 1500);
        assert.equal(seen.ifalias, marker('ep', ep.id));
        // passthru: the kernel gives the link the parent's MAC (Docker sets the endpoint's in the sandbox).
        assert.equal(seen.address, mode === 'passthru' ? ipDetails(PARENT)!.address : ep.macAddress);

        assert.deepEqual(await dp.join(net, ep, '/var/run/docker/netns/x'), { srcName: name });
        assert.deepEqual(await dp.programExternalConnectivity(net, ep), {});
        await dp.revokeExternalConnectivity(net, ep);
        await dp.leave(net, ep);
        await dp.deleteEndpoint(net, ep);
        assert.equal(ipDetails(name), undefined);
        await dp.deleteEndpoint(net, ep); // again: nothing to do
      });
    }

    it('passthru takes one endpoint per parent: a second is refused clearly', async () => {
      const net = network(newId(), { parent: PARENT, mode: 'passthru' });
      net.datapath = await dp.createNetwork(net);
      await dp.createEndpoint(net, endpoint(net));
      const second = endpoint(net);
      await assertRejects(dp.createEndpoint(net, second), /^macvlan passthru mode takes one endpoint per parent, and mvp0 already has tsm/);
      assert.equal(ipDetails(macvlanName(second.id)), undefined);
    });

    it('is idempotent and converges a damaged link (MTU, MAC); puts no address anywhere', async () => {
      const net = network(newId(), { parent: PARENT, mtu: 1400 });
      net.datapath = await dp.createNetwork(net);
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      const name = macvlanName(ep.id);
      const index = ipDetails(name)!.ifindex;
      await dp.createEndpoint(net, ep);
      assert.equal(ipDetails(name)!.ifindex, index, 'not recreated');
      runSync('ip', ['link', 'set', name, 'mtu', '1300', 'address', '02:00:00:00:00:99']);
      await dp.createEndpoint(net, ep);
      assert.equal(ipDetails(name)!.ifindex, index);
      assert.equal(ipDetails(name)!.mtu, 1400);
      assert.equal(ipDetails(name)!.address, ep.macAddress);
      assert.deepEqual(globalAddresses(), [], 'the gateway 192.168.77.1 is on no host interface');
    });

    it('refuses a foreign link with the endpoint\'s name and leaves it alone', async () => {
      const net = network(newId(), { parent: PARENT });
      net.datapath = await dp.createNetwork(net);
      const ep = endpoint(net);
      runSync('ip', ['link', 'add', 'link', PARENT, 'name', macvlanName(ep.id), 'type', 'macvlan', 'mode', 'vepa']);
      await assertRejects(dp.createEndpoint(net, ep), /already exists and is not managed by tsnet/);
      await dp.deleteEndpoint(net, ep);
      assert.equal(ipDetails(macvlanName(ep.id))?.linkinfo?.info_data?.mode, 'vepa', 'not deleted either');
    });

    it('rejects a bad MAC before touching the kernel; the parent gone is a clear error', async () => {
      const net = network(newId(), { parent: PARENT });
      net.datapath = await dp.createNetwork(net);
      await assertRejects(dp.createEndpoint(net, endpoint(net, { mac: '03:00:00:00:00:01' })), /invalid MAC address "03:00:00:00:00:01"/);
      runSync('ip', ['link', 'del', PARENT]);
      await assertRejects(dp.createEndpoint(net, endpoint(net)), new RegExp(`^parent interface mvp0 of network ${net.id.slice(0, 12)} does not exist$`));
      assert.deepEqual(linkNames(), []);
    });

    it('a failure part-way (alias refused) deletes the link it created', async () => {
      let failAlias = true;
      const faulty: LinkOps = {
        ...nl,
        setAlias: async (ref, alias) => {
          if (failAlias) throw new nl.NetlinkError('set alias', 'EPERM');
          return nl.setAlias(ref, alias);
        },
      };
      const fdp = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE, kernel: faulty });
      const net = network(newId(), { parent: PARENT });
      net.datapath = await fdp.createNetwork(net);
      const ep = endpoint(net);
      await assertRejects(fdp.createEndpoint(net, ep), /set alias: EPERM/, nl.NetlinkError);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
      // Same for the internal parent of a parent-less network.
      await assertRejects(fdp.createNetwork(network(newId())), /set alias: EPERM/, nl.NetlinkError);
      assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
      failAlias = false;
      await fdp.createEndpoint(net, ep);
      assert.equal(ipDetails(macvlanName(ep.id))?.ifalias, marker('ep', ep.id));
    });

    it('join recreates a link that has gone missing', async () => {
      const net = network(newId(), { parent: PARENT, mode: 'private' });
      net.datapath = await dp.createNetwork(net);
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      runSync('ip', ['link', 'del', macvlanName(ep.id)]);
      assert.deepEqual(await dp.join(net, ep, '/x'), { srcName: macvlanName(ep.id) });
      assert.equal(ipDetails(macvlanName(ep.id))?.linkinfo?.info_data?.mode, 'private');
    });
  });

  describe('reconcile', () => {
    it('recreates missing links and parents it owns, removes only its own orphans, rebuilds the parent registry', async () => {
      const lan = network(newId(), { parent: PARENT });
      lan.datapath = await dp.createNetwork(lan);
      const internal = network(newId());
      internal.datapath = await dp.createNetwork(internal);
      const kept = endpoint(lan);
      const lost = endpoint(lan);
      const joined = endpoint(lan, { sandboxKey: '/var/run/docker/netns/abc' });
      const onInternal = endpoint(internal);
      for (const [net, ep] of [[lan, kept], [lan, lost], [lan, joined], [internal, onInternal]] as const) {
        ep.datapath = await dp.createEndpoint(net, ep);
      }
      const keptIndex = ipDetails(macvlanName(kept.id))!.ifindex;
      runSync('ip', ['link', 'del', macvlanName(lost.id)]);
      runSync('ip', ['link', 'del', macvlanName(joined.id)]); // as if it were inside its container
      runSync('ip', ['link', 'del', internalParentName(internal.id)]); // takes onInternal's link with it

      // Orphans: an endpoint link and an internal parent of records that no longer exist.
      const orphanEp = endpoint(lan);
      await dp.createEndpoint(lan, orphanEp);
      const orphanNet = network(newId());
      await dp.createNetwork(orphanNet);
      // Not ours: another instance's macvlan link, and an unmarked one.
      runSync('ip', ['link', 'add', 'link', PARENT, 'name', 'othermv0', 'type', 'macvlan']);
      runSync('ip', ['link', 'set', 'othermv0', 'alias', marker('ep', newId(), 'other')]);
      runSync('ip', ['link', 'add', 'link', PARENT, 'name', 'plainmv0', 'type', 'macvlan']);

      // A restarted daemon: a fresh data path, told the stored state.
      const restarted = new MacvlanDataPath({ log: testLogger(), instance: INSTANCE });
      await restarted.reconcile([lan, internal], [kept, lost, joined, onInternal]);

      assert.equal(ipDetails(macvlanName(kept.id))?.ifindex, keptIndex, 'an intact link is kept');
      assert.equal(ipDetails(macvlanName(lost.id))?.link, PARENT, 'a missing link is recreated');
      assert.equal(ipDetails(macvlanName(lost.id))?.address, lost.macAddress);
      assert.equal(ipDetails(macvlanName(joined.id)), undefined, 'a joined endpoint\'s link is not looked for in the host');
      assert.equal(ipDetails(internalParentName(internal.id))?.ifalias, marker('net', internal.id), 'internal parent recreated');
      assert.ok(ipDetails(internalParentPeerName(internal.id))?.flags.includes('UP'));
      assert.equal(ipDetails(macvlanName(onInternal.id))?.link, internalParentName(internal.id));
      assert.equal(ipDetails(macvlanName(orphanEp.id)), undefined, 'orphan endpoint link removed');
      assert.equal(ipDetails(internalParentName(orphanNet.id)), undefined, 'orphan internal parent removed');
      assert.equal(ipDetails(internalParentPeerName(orphanNet.id)), undefined);
      assert.ok(ipDetails('othermv0') && ipDetails('plainmv0'), 'links that are not this instance\'s stay');

      await assertRejects(restarted.createNetwork(network(newId(), { parent: PARENT })), new RegExp(`^network ${lan.id.slice(0, 12)} already uses parent mvp0$`));
    });

    it('a user parent that is gone is logged, not fatal; the rest is still reconciled', async () => {
      makeParent('mvgone0', 'mvgone1');
      const gone = network(newId(), { parent: 'mvgone0' });
      gone.datapath = await dp.createNetwork(gone);
      const ok = network(newId(), { parent: PARENT });
      ok.datapath = await dp.createNetwork(ok);
      const epGone = endpoint(gone);
      const epOk = endpoint(ok);
      runSync('ip', ['link', 'del', 'mvgone0']);
      await new MacvlanDataPath({ log: testLogger(), instance: INSTANCE }).reconcile([gone, ok], [epGone, epOk]);
      assert.equal(ipDetails(macvlanName(epOk.id))?.link, PARENT);
      assert.equal(ipDetails('mvgone0'), undefined, 'tsnet does not make a user\'s parent');
    });
  });

  it('nothing is left after endpoints and networks are deleted', async () => {
    const nets = [network(newId(), { parent: PARENT }), network(newId())];
    const eps: EndpointRecord[] = [];
    for (const net of nets) {
      net.datapath = await dp.createNetwork(net);
      for (let i = 0; i < 3; i++) {
        const ep = endpoint(net);
        ep.datapath = await dp.createEndpoint(net, ep);
        eps.push(ep);
      }
    }
    assert.equal(linkNames().filter((n) => n.startsWith('tsm')).length, 8); // 6 endpoints + the internal pair
    for (const ep of eps) await dp.deleteEndpoint(nets.find((n) => n.id === ep.networkId)!, ep);
    for (const net of nets) await dp.deleteNetwork(net);
    assert.deepEqual(linkNames(), [PARENT, PARENT_PEER]);
    assert.equal(ipDetails(PARENT)?.ifalias, undefined);
    assert.deepEqual(globalAddresses(), []);
  });
});
