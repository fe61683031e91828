/**
 * src/netlink against the real kernel: each link kind's encoding is checked by what the kernel
 * reports back through iproute2 (`ip -d -j link`, `bridge -j fdb`, `ip -j neigh`). Runs in the private
 * namespace of the netns tier (see test/lab/netns.ts); iproute2 is also used to add the routes
 * listHostNetworks must see, since tsnet itself never adds routes. afterEach removes every link the
 * test made (its routes go with them) and checks nothing is left, also after a failure.
 */
import assert from 'node:assert/strict';
import * as nl from '../../../src/netlink';
import { ipAddrs, ipLink, linkNames, requireThrowawayNetns, runSync } from '../../lab';

interface IpLinkDetails {
  ifname: string;
  link?: string;
  address: string;
  mtu: number;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

function details(name: string): IpLinkDetails {
  const [link] = JSON.parse(runSync('ip', ['-j', '-d', 'link', 'show', 'dev', name])) as IpLinkDetails[];
  assert.ok(link, `${name} not found`);
  return link;
}

describe('netlink operations (netns)', function () {
  this.timeout(20000);

  before(function () {
    requireThrowawayNetns(this);
  });

  afterEach(async () => {
    const links = (await nl.listLinks()).filter((l) => l.name !== 'lo');
    for (const link of links.filter((l) => l.kind === 'veth' || l.kind === 'macvlan' || l.kind === 'vxlan')) {
      await nl.deleteLink(link.index);
    }
    for (const link of links) await nl.deleteLink(link.index);
    assert.deepEqual(linkNames(), [], 'clean-up left links behind');
    // Routes go with their links; none may survive (a default route would make later suites skip).
    assert.deepEqual(await nl.listRoutes({ table: nl.RT_TABLE_MAIN }), [], 'clean-up left routes behind');
  });

  it('creates a bridge with MTU, MAC and up; reads it back; deletes it idempotently', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0', mtu: 1400, mac: '02:42:00:00:00:01', up: true });
    assert.deepEqual(
      { name: br.name, kind: br.kind, mtu: br.mtu, mac: br.mac, up: br.up },
      { name: 'nlb0', kind: 'bridge', mtu: 1400, mac: '02:42:00:00:00:01', up: true },
    );
    const seen = details('nlb0');
    assert.equal(seen.linkinfo?.info_kind, 'bridge');
    assert.equal(seen.mtu, 1400);
    assert.equal(seen.address, '02:42:00:00:00:01');
    assert.ok(seen.flags.includes('UP'));
    assert.deepEqual(await nl.findLinkByName('nlb0'), await nl.findLink(br.index));

    assert.equal(await nl.deleteLink('nlb0'), true);
    assert.equal(await nl.deleteLink('nlb0'), false);
    assert.equal(await nl.findLinkByName('nlb0'), undefined);
  });

  it('names the operation and the object in errors, with the errno as code', async () => {
    await nl.createLink({ kind: 'bridge', name: 'nlb0' });
    await assert.rejects(nl.createLink({ kind: 'bridge', name: 'nlb0' }), (err: nl.NetlinkError) => {
      assert.ok(err instanceof nl.NetlinkError);
      assert.equal(err.message, 'create bridge nlb0: EEXIST');
      assert.equal(err.code, 'EEXIST');
      return true;
    });
    await assert.rejects(nl.setMtu('nl-missing', 1400), { message: 'set mtu of nl-missing to 1400: ENODEV', code: 'ENODEV' });
    await assert.rejects(nl.createLink({ kind: 'bridge', name: 'nlb1', mtu: 70000 }), { code: 'EINVAL' });
  });

  it('creates a veth pair enslaved at creation, with peer MTU and MAC', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0' });
    const v = await nl.createLink({
      kind: 'veth',
      name: 'nlv0',
      mtu: 1450,
      masterIndex: br.index,
      up: true,
      peer: { name: 'nlc0', mtu: 1450, mac: '02:42:0a:00:00:02' },
    });
    assert.equal(v.masterIndex, br.index);
    assert.equal(v.slaveKind, 'bridge');
    const peer = (await nl.findLinkByName('nlc0'))!;
    assert.equal(v.parentIndex, peer.index);
    assert.equal(peer.parentIndex, v.index);
    const host = ipLink('nlv0')!;
    assert.equal(host.master, 'nlb0');
    assert.equal(host.link, 'nlc0');
    assert.equal(host.mtu, 1450);
    assert.ok(host.flags.includes('UP'));
    const c = details('nlc0');
    assert.equal(c.linkinfo?.info_kind, 'veth');
    assert.equal(c.mtu, 1450);
    assert.equal(c.address, '02:42:0a:00:00:02');
  });

  it('enslaving at creation to a missing master fails and leaves nothing', async () => {
    await assert.rejects(nl.createLink({ kind: 'veth', name: 'nlv0', masterIndex: 9999, peer: { name: 'nlc0' } }), { code: 'EINVAL' });
    assert.deepEqual(linkNames(), []);
  });

  it('sets master, MTU, alias, MAC, up and down on an existing link', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0' });
    await nl.createLink({ kind: 'veth', name: 'nlv0', peer: { name: 'nlc0' } });
    await nl.setMaster('nlv0', br);
    assert.equal(ipLink('nlv0')?.master, 'nlb0');
    await nl.setMaster('nlv0', 0);
    assert.equal(ipLink('nlv0')?.master, undefined);
    await nl.setMaster('nlv0', 'nlb0');
    assert.equal(ipLink('nlv0')?.master, 'nlb0');
    await nl.setMtu('nlv0', 1280);
    await nl.setAlias('nlv0', 'tsnet:test:bridge:ep:abc');
    await nl.setMac('nlv0', '02:42:0a:00:00:07');
    await nl.setLinkUp('nlv0');
    let seen = ipLink('nlv0')!;
    assert.equal(seen.mtu, 1280);
    assert.equal(seen.ifalias, 'tsnet:test:bridge:ep:abc');
    assert.equal(seen.address, '02:42:0a:00:00:07');
    assert.ok(seen.flags.includes('UP'));
    assert.equal((await nl.findLinkByName('nlv0'))?.alias, 'tsnet:test:bridge:ep:abc');
    await nl.setLinkDown('nlv0');
    await nl.setAlias('nlv0', '');
    seen = ipLink('nlv0')!;
    assert.ok(!seen.flags.includes('UP'));
    assert.equal(seen.ifalias, undefined);
    assert.equal((await nl.findLinkByName('nlv0'))?.alias, undefined);
  });

  const modes: nl.MacvlanMode[] = ['private', 'vepa', 'bridge', 'passthru'];
  for (const mode of modes) {
    it(`creates a macvlan in ${mode} mode on its parent`, async () => {
      const parent = await nl.createLink({ kind: 'bridge', name: 'nlb0' });
      const mv = await nl.createLink({ kind: 'macvlan', name: 'nlm0', parentIndex: parent.index, mode });
      assert.equal(mv.parentIndex, parent.index);
      assert.deepEqual(mv.macvlan, { mode });
      const seen = details('nlm0');
      assert.equal(seen.linkinfo?.info_kind, 'macvlan');
      assert.equal(seen.linkinfo?.info_data?.mode, mode);
      assert.equal(seen.link, 'nlb0');
    });
  }

  it('creates a VXLAN device with VNI, local address, port, learning and underlay', async () => {
    const underlay = await nl.createLink({ kind: 'bridge', name: 'nlb0' });
    const vx = await nl.createLink({ kind: 'vxlan', name: 'nlx0', vni: 4242, local: '10.9.0.1', port: 4789, learning: false, underlayIndex: underlay.index });
    assert.deepEqual(vx.vxlan, { vni: 4242, local: '10.9.0.1', port: 4789, learning: false, underlayIndex: underlay.index });
    const data = details('nlx0').linkinfo?.info_data ?? {};
    assert.deepEqual({ id: data.id, local: data.local, port: data.port, learning: data.learning, link: data.link }, {
      id: 4242,
      local: '10.9.0.1',
      port: 4789,
      learning: false,
      link: 'nlb0',
    });

    const vx6 = await nl.createLink({ kind: 'vxlan', name: 'nlx6', vni: 7, local: 'fd00::1' });
    assert.equal(vx6.vxlan?.local, 'fd00::1');
    assert.equal(details('nlx6').linkinfo?.info_data?.local6, 'fd00::1');
  });

  it('creates a VLAN sub-interface (where the kernel has 8021q)', async function () {
    const parent = await nl.createLink({ kind: 'veth', name: 'nlv0', peer: { name: 'nlc0' } });
    try {
      await nl.createLink({ kind: 'vlan', name: 'nlv0.100', parentIndex: parent.index, vlanId: 100 });
    } catch (err) {
      if (nl.hasCode(err, 'ENOTSUP', 'EOPNOTSUPP')) {
        console.warn(`      *** SKIPPING: this kernel has no vlan link type (${(err as Error).message}) ***`);
        this.skip();
      }
      throw err;
    }
    const data = details('nlv0.100').linkinfo?.info_data ?? {};
    assert.equal(data.id, 100);
    assert.equal(data.protocol, '802.1Q');
  });

  it('adds IPv4/IPv6 addresses idempotently, lists and deletes them', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0', up: true });
    assert.equal(await nl.addAddress(br, '10.77.3.1/24'), true);
    assert.equal(await nl.addAddress('nlb0', '10.77.3.1/24'), false);
    assert.equal(await nl.addAddress(br.index, 'fd00:77::1/64', { nodad: true }), true);
    assert.deepEqual(ipAddrs('nlb0'), ['10.77.3.1/24', 'fd00:77::1/64']);
    const listed = (await nl.listAddresses({ link: br.index })).filter((a) => a.scope === 0).map((a) => a.cidr);
    assert.deepEqual(listed.sort(), ['10.77.3.1/24', 'fd00:77::1/64']);
    assert.deepEqual((await nl.listAddresses({ link: br.index, family: 4 })).map((a) => a.cidr), ['10.77.3.1/24']);
    assert.equal(await nl.deleteAddress(br, '10.77.3.1/24'), true);
    assert.equal(await nl.deleteAddress(br, '10.77.3.1/24'), false);
    assert.equal(await nl.deleteAddress('nl-missing', '10.77.3.1/24'), false);
    assert.deepEqual(ipAddrs('nlb0'), ['fd00:77::1/64']);
  });

  it('lists routes with their table, type and device', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0', up: true });
    await nl.addAddress(br, '10.77.3.1/24');
    const routes = await nl.listRoutes({ family: 4 });
    assert.ok(routes.some((r) => r.dst === '10.77.3.0/24' && r.table === nl.RT_TABLE_MAIN && r.type === 'UNICAST' && r.oifIndex === br.index));
    assert.ok(routes.some((r) => r.dst === '10.77.3.1/32' && r.table === 255 && r.type === 'LOCAL'));
    assert.ok((await nl.listRoutes({ table: nl.RT_TABLE_MAIN })).every((r) => r.table === nl.RT_TABLE_MAIN));
  });

  it('listHostNetworks: address subnets and main-table routes, v4 and v6, no default routes', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0', up: true });
    await nl.addAddress(br, '10.77.3.1/24');
    await nl.addAddress(br, 'fd00:77::1/64', { nodad: true });
    runSync('ip', ['route', 'add', '192.0.2.0/24', 'dev', 'nlb0']);
    runSync('ip', ['route', 'add', '198.51.100.0/24', 'via', '10.77.3.254']);
    runSync('ip', ['route', 'add', 'default', 'via', '10.77.3.254']);
    runSync('ip', ['-6', 'route', 'add', '2001:db8:5::/48', 'dev', 'nlb0']);
    runSync('ip', ['-6', 'route', 'add', 'default', 'dev', 'nlb0']);
    const networks = await nl.listHostNetworks();
    for (const cidr of ['10.77.3.0/24', 'fd00:77::/64', '192.0.2.0/24', '198.51.100.0/24', '2001:db8:5::/48']) {
      assert.ok(networks.includes(cidr), `${cidr} missing from ${JSON.stringify(networks)}`);
    }
    assert.ok(!networks.includes('0.0.0.0/0') && !networks.includes('::/0'), 'default routes are not networks');
    assert.ok(!networks.includes('10.77.3.1/32'), 'local-table routes are left out');
    assert.deepEqual(networks, [...new Set(networks)].sort(), 'sorted and unique');
  });

  it('adds VXLAN flood entries (zero MAC, one per remote) and unicast entries; deletes them', async () => {
    const vx = await nl.createLink({ kind: 'vxlan', name: 'nlx0', vni: 42, port: 4789, learning: false });
    await nl.addFdbEntry({ linkIndex: vx.index, mac: nl.ZERO_MAC, dst: '10.9.0.7' });
    await nl.addFdbEntry({ linkIndex: vx.index, mac: nl.ZERO_MAC, dst: '10.9.0.7' }); // repeat: no error, no duplicate
    await nl.addFdbEntry({ linkIndex: vx.index, mac: nl.ZERO_MAC, dst: '10.9.0.8' });
    await nl.addFdbEntry({ linkIndex: vx.index, mac: '02:42:0a:00:00:05', dst: '10.9.0.8' });
    type Fdb = { mac: string; dst?: string; flags: string[]; state?: string };
    const fdb = () =>
      (JSON.parse(runSync('bridge', ['-j', 'fdb', 'show', 'dev', 'nlx0'])) as Fdb[])
        .map((e) => `${e.mac} dst ${e.dst} ${e.flags.join(',')} ${e.state}`)
        .sort();
    assert.deepEqual(fdb(), [
      '00:00:00:00:00:00 dst 10.9.0.7 self permanent',
      '00:00:00:00:00:00 dst 10.9.0.8 self permanent',
      '02:42:0a:00:00:05 dst 10.9.0.8 self permanent',
    ]);
    const listed = (await nl.listFdbEntries({ linkIndex: vx.index })).map((e) => `${e.mac} ${e.dst} ${e.permanent}`).sort();
    assert.deepEqual(listed, ['00:00:00:00:00:00 10.9.0.7 true', '00:00:00:00:00:00 10.9.0.8 true', '02:42:0a:00:00:05 10.9.0.8 true']);

    assert.equal(await nl.deleteFdbEntry({ linkIndex: vx.index, mac: nl.ZERO_MAC, dst: '10.9.0.8' }), true);
    // A repeat is harmless (VXLAN answers success: the MAC still has another remote).
    await nl.deleteFdbEntry({ linkIndex: vx.index, mac: nl.ZERO_MAC, dst: '10.9.0.8' });
    assert.deepEqual(fdb(), ['00:00:00:00:00:00 dst 10.9.0.7 self permanent', '02:42:0a:00:00:05 dst 10.9.0.8 self permanent']);
    assert.equal(await nl.deleteFdbEntry({ linkIndex: vx.index, mac: '02:42:0a:00:00:05', dst: '10.9.0.8' }), true);
    assert.equal(await nl.deleteFdbEntry({ linkIndex: vx.index, mac: '02:42:0a:00:00:05', dst: '10.9.0.8' }), false);
    assert.deepEqual(fdb(), ['00:00:00:00:00:00 dst 10.9.0.7 self permanent']);
  });

  it('adds, lists and deletes permanent neighbour entries', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0', up: true });
    await nl.addNeighbour({ linkIndex: br.index, ip: '10.77.3.9', mac: '02:42:0a:4d:03:09' });
    await nl.addNeighbour({ linkIndex: br.index, ip: '10.77.3.9', mac: '02:42:0a:4d:03:0a' }); // replaces
    type Neigh = { dst: string; lladdr?: string; state: string[] };
    const neigh = JSON.parse(runSync('ip', ['-j', 'neigh', 'show', 'dev', 'nlb0'])) as Neigh[];
    assert.deepEqual(
      neigh.filter((n) => n.dst === '10.77.3.9').map((n) => [n.lladdr, n.state]),
      [['02:42:0a:4d:03:0a', ['PERMANENT']]],
    );
    assert.ok((await nl.listNeighbours({ linkIndex: br.index })).some((n) => n.ip === '10.77.3.9' && n.permanent));
    assert.equal(await nl.deleteNeighbour({ linkIndex: br.index, ip: '10.77.3.9', mac: '02:42:0a:4d:03:0a' }), true);
    assert.equal(await nl.deleteNeighbour({ linkIndex: br.index, ip: '10.77.3.9', mac: '02:42:0a:4d:03:0a' }), false);
  });

  it('listLinks and findLink read what `ip -d -j link` reads (lean decoder), for every kind tsnet makes', async () => {
    const br = await nl.createLink({ kind: 'bridge', name: 'nlb0', mtu: 1400, mac: '02:42:00:00:00:01', up: true });
    await nl.createLink({ kind: 'veth', name: 'nlv0', mtu: 1400, masterIndex: br.index, up: true, peer: { name: 'nlc0', mac: '02:42:0a:00:00:09' } });
    await nl.setAlias('nlv0', 'tsnet:test:bridge:ep:ünïcode');
    await nl.createLink({ kind: 'macvlan', name: 'nlm0', parentIndex: br.index, mode: 'bridge' });
    await nl.addAddress(br, '10.77.1.1/24');
    await nl.createLink({ kind: 'vxlan', name: 'nlx0', vni: 4242, underlayIndex: br.index, local: '10.77.1.1', port: 4789, learning: false });
    interface IpView extends IpLinkDetails {
      ifindex: number;
      ifalias?: string;
      master?: string;
      link_index?: number;
      linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: Record<string, unknown> };
    }
    const ip = JSON.parse(runSync('ip', ['-j', '-d', 'link', 'show'])) as IpView[];
    const listed = await nl.listLinks();
    assert.deepEqual(listed.map((l) => l.name).sort(), ip.map((l) => l.ifname).sort());
    const byIndex = new Map(ip.map((l) => [l.ifindex, l]));
    for (const link of listed) {
      const seen = byIndex.get(link.index)!;
      assert.ok(seen, `${link.name} (#${link.index}) unknown to ip`);
      const master = seen.master ? ip.find((l) => l.ifname === seen.master)?.ifindex : undefined;
      assert.deepEqual(
        { name: link.name, mtu: link.mtu, mac: link.mac, up: link.up, alias: link.alias, kind: link.kind, slaveKind: link.slaveKind, masterIndex: link.masterIndex },
        {
          name: seen.ifname,
          mtu: seen.mtu,
          mac: seen.address,
          up: seen.flags.includes('UP'),
          alias: seen.ifalias,
          kind: seen.linkinfo?.info_kind,
          slaveKind: seen.linkinfo?.info_slave_kind,
          masterIndex: master,
        },
        link.name,
      );
      assert.deepEqual(await nl.findLink(link.name), link, `findLink(${link.name})`);
      assert.deepEqual(await nl.findLink(link.index), link, `findLink(#${link.index})`);
    }
    const macvlan = listed.find((l) => l.name === 'nlm0')!;
    assert.equal(macvlan.parentIndex, br.index);
    assert.deepEqual(macvlan.macvlan, { mode: 'bridge' });
    const vxlan = listed.find((l) => l.name === 'nlx0')!;
    assert.deepEqual(vxlan.vxlan, { vni: 4242, underlayIndex: br.index, local: '10.77.1.1', learning: false, port: 4789 });
    assert.equal(listed.find((l) => l.name === 'nlc0')!.parentIndex, listed.find((l) => l.name === 'nlv0')!.index, 'a veth end names its peer');
  });

  it('withLinkSnapshot: one dump serves listLinks until tsnet changes a link; outside it every call dumps', async () => {
    await nl.createLink({ kind: 'bridge', name: 'nlb0' });
    await nl.withLinkSnapshot(async () => {
      const first = await nl.listLinks();
      runSync('ip', ['link', 'add', 'nlb1', 'type', 'bridge']); // behind tsnet's back: the snapshot does not see it
      assert.deepEqual((await nl.listLinks()).map((l) => l.name), first.map((l) => l.name));
      await nl.setAlias('nlb0', 'changed'); // a change through tsnet: the next call dumps again
      const after = await nl.listLinks();
      assert.ok(after.some((l) => l.name === 'nlb1'));
      assert.equal(after.find((l) => l.name === 'nlb0')?.alias, 'changed');
      await nl.createLink({ kind: 'bridge', name: 'nlb2' });
      assert.ok((await nl.listLinks()).some((l) => l.name === 'nlb2'));
      await nl.deleteLink('nlb2');
      assert.ok(!(await nl.listLinks()).some((l) => l.name === 'nlb2'));
    });
    runSync('ip', ['link', 'add', 'nlb3', 'type', 'bridge']);
    assert.ok((await nl.listLinks()).some((l) => l.name === 'nlb3'), 'outside the scope nothing is cached');
  });

  it('a dump sees every request made before it, though it does not queue behind them', async () => {
    const made = nl.createLink({ kind: 'bridge', name: 'nlb0' });
    const listed = nl.listLinks();
    await made;
    assert.ok((await listed).some((l) => l.name === 'nlb0'));
  });

  it('serialises concurrent requests (the package breaks on overlapping dumps)', async () => {
    await nl.createLink({ kind: 'bridge', name: 'nlb0', up: true });
    const results = await Promise.all([nl.listLinks(), nl.listAddresses(), nl.listRoutes(), nl.listLinks(), nl.listHostNetworks()]);
    assert.ok(results[0].some((l) => l.name === 'nlb0'));
    assert.deepEqual(results[0].map((l) => l.name), results[3].map((l) => l.name));
  });
});
