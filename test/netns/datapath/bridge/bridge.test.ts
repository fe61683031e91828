/**
 * BridgeDataPath against the real kernel. The whole mocha run is in a private network namespace
 * (`make test-netns` = `unshare --net mocha ...`); `before` skips loudly when it is not. Assertions
 * read the kernel's state back with `ip -j` (test/lab/netns.ts). Every test removes all links it
 * made in afterEach, also after a failure.
 */
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { BridgeDataPath, type BridgeFirewall } from '../../../../src/datapath/bridge/bridge';
import { DataPathError } from '../../../../src/datapath/datapath';
import { bridgeName, containerVethName, hostVethName } from '../../../../src/datapath/shared/names';
import type { EndpointRecord, NetworkRecord } from '../../../../src/model/records';
import * as nl from '../../../../src/netlink';
import { bridgeOptions, capturingLogger, endpointRecord, ipAddrInfo, ipAddrs, ipamPool, ipLink, linkNames, networkRecord, newId, requireThrowawayNetns, runSync } from '../../../lab';
import type { FirewallNetwork } from '../../../../src/firewall/network';

const INSTANCE = 'nstest';

interface NetOptions {
  mtu?: number;
  bridgeName?: string;
  gateway4?: string;
  gateway6?: string;
}

function network(id: string, o: NetOptions = {}): NetworkRecord {
  return networkRecord(bridgeOptions({ mtu: o.mtu, bridgeName: o.bridgeName }), {
    id,
    ipv4: o.gateway4 ? [ipamPool('10.0.0.0/8', o.gateway4)] : [],
    ipv6: o.gateway6 ? [ipamPool('fd00::/8', o.gateway6)] : [],
    enableIPv6: o.gateway6 !== undefined,
  });
}

function endpoint(net: NetworkRecord, mac = '02:42:0a:14:00:02', id = newId()): EndpointRecord {
  return endpointRecord(net, { id, address: '10.20.0.2/24', macAddress: mac });
}

class RecordingFirewall implements BridgeFirewall {
  calls: string[] = [];
  failAdd = false;
  async addNetwork(net: FirewallNetwork): Promise<void> {
    this.calls.push(`add ${net.id} ${net.bridge}`);
    if (this.failAdd) throw new Error('iptables: simulated failure');
  }
  async removeNetwork(net: FirewallNetwork): Promise<void> {
    this.calls.push(`remove ${net.id} ${net.bridge}`);
  }
}

const DISABLE_IPV6 = '/proc/sys/net/ipv6/conf/default/disable_ipv6';

async function assertRejects(promise: Promise<unknown>, pattern: RegExp, type: Function = DataPathError): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('bridge data path (netns)', function () {
  this.timeout(20000);
  let log: ReturnType<typeof capturingLogger>;
  let firewall: RecordingFirewall;
  let dp: BridgeDataPath;
  let savedDisableIpv6: string;

  before(function () {
    requireThrowawayNetns(this);
    savedDisableIpv6 = readFileSync(DISABLE_IPV6, 'utf8');
  });

  beforeEach(() => {
    log = capturingLogger();
    firewall = new RecordingFirewall();
    dp = new BridgeDataPath({ log: log.log, instance: INSTANCE, firewall });
  });

  afterEach(async () => {
    writeFileSync(DISABLE_IPV6, savedDisableIpv6);
    // Veths first (deleting one end removes its peer), then everything else but loopback.
    const links = (await nl.listLinks()).filter((l) => l.name !== 'lo');
    for (const link of links.filter((l) => l.kind === 'veth')) await nl.deleteLink(link.index);
    for (const link of links.filter((l) => l.kind !== 'veth')) await nl.deleteLink(link.index);
    assert.deepEqual(linkNames(), [], 'clean-up left links behind');
  });

  describe('networks', () => {
    it('creates a marked bridge with the MTU, the IPv4 and IPv6 gateways, up', async () => {
      const net = network(newId(), { mtu: 1400, gateway4: '10.20.0.1/24', gateway6: 'fd00:20::1/64' });
      const state = await dp.createNetwork(net);
      const name = bridgeName(net.id);
      assert.deepEqual(state, { bridgeName: name });
      assert.match(name, /^ts-[0-9a-f]{10}$/);

      const link = ipLink(name);
      assert.ok(link, `${name} not in ip link`);
      assert.equal(link.linkinfo?.info_kind, 'bridge');
      // Bridged frames pass iptables/ip6tables FORWARD (DOCKER-USER, icc=false) whatever the host's sysctls.
      assert.equal(link.linkinfo?.info_data?.nf_call_iptables, 1);
      assert.equal(link.linkinfo?.info_data?.nf_call_ip6tables, 1);
      assert.equal(link.mtu, 1400);
      assert.equal(link.ifalias, `tsnet:${INSTANCE}:bridge:net:${net.id}`);
      assert.ok(link.flags.includes('UP'), `flags ${link.flags}`);
      assert.match(link.address!, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.deepEqual(ipAddrs(name), ['10.20.0.1/24', 'fd00:20::1/64']);
      const v6 = ipAddrInfo(name).find((a) => a.local === 'fd00:20::1');
      assert.ok(v6 && !v6.tentative, 'IPv6 gateway must be usable at once (no DAD)');
      assert.deepEqual(firewall.calls, [`add ${net.id} ${name}`]);
    });

    it('uses the bridge name option and the default MTU', async () => {
      const net = network(newId(), { bridgeName: 'br-custom', gateway4: '10.21.0.1/16' });
      assert.deepEqual(await dp.createNetwork(net), { bridgeName: 'br-custom' });
      assert.equal(ipLink('br-custom')?.mtu, 1500);
      assert.deepEqual(ipAddrs('br-custom'), ['10.21.0.1/16']);
    });

    it('puts the gateway on the bridge of an internal network too', async () => {
      const net = { ...network(newId(), { gateway4: '10.22.0.1/24' }), internal: true };
      const { bridgeName: name } = (await dp.createNetwork(net)) as { bridgeName: string };
      assert.deepEqual(ipAddrs(name), ['10.22.0.1/24']);
    });

    it('is idempotent: a repeat adopts the bridge and changes nothing', async () => {
      const net = network(newId(), { mtu: 1400, gateway4: '10.20.0.1/24', gateway6: 'fd00:20::1/64' });
      const first = await dp.createNetwork(net);
      const before = ipLink(bridgeName(net.id));
      assert.deepEqual(await dp.createNetwork(net), first);
      const after = ipLink(bridgeName(net.id));
      assert.equal(after?.ifindex, before?.ifindex, 'the bridge must not be recreated');
      assert.equal(after?.address, before?.address);
      assert.deepEqual(ipAddrs(bridgeName(net.id)), ['10.20.0.1/24', 'fd00:20::1/64']);
    });

    it('a repeat converges a damaged bridge (MTU, missing address, down, nf_call off as made by an older tsnet)', async () => {
      const net = network(newId(), { mtu: 1400, gateway4: '10.20.0.1/24', gateway6: 'fd00:20::1/64' });
      await dp.createNetwork(net);
      const name = bridgeName(net.id);
      runSync('ip', ['link', 'set', name, 'type', 'bridge', 'nf_call_iptables', '0', 'nf_call_ip6tables', '0']);
      await nl.setMtu(name, 1300);
      await nl.deleteAddress(name, '10.20.0.1/24');
      await nl.setLinkDown(name);
      await dp.createNetwork(net);
      const link = ipLink(name)!;
      assert.equal(link.mtu, 1400);
      assert.ok(link.flags.includes('UP'));
      assert.deepEqual(ipAddrs(name), ['10.20.0.1/24', 'fd00:20::1/64']);
      assert.deepEqual([link.linkinfo?.info_data?.nf_call_iptables, link.linkinfo?.info_data?.nf_call_ip6tables], [1, 1]);
    });

    it('refuses an existing interface of that name that is not tsnet\'s, and leaves it alone', async () => {
      const foreign = await nl.createLink({ kind: 'bridge', name: 'br-taken', mtu: 1450 });
      const net = network(newId(), { bridgeName: 'br-taken', mtu: 1400, gateway4: '10.20.0.1/24' });
      await assertRejects(dp.createNetwork(net), /^interface br-taken already exists and is not managed by tsnet$/);
      const link = ipLink('br-taken')!;
      assert.equal(link.ifindex, foreign.index);
      assert.equal(link.mtu, 1450);
      assert.equal(link.ifalias, undefined);
      assert.ok(!link.flags.includes('UP'));
      assert.deepEqual(ipAddrs('br-taken'), []);
      assert.deepEqual(firewall.calls, []);
    });

    it('refuses a veth that has the bridge\'s name', async () => {
      await nl.createLink({ kind: 'veth', name: 'br-veth', peer: { name: 'br-veth-p' } });
      await assertRejects(dp.createNetwork(network(newId(), { bridgeName: 'br-veth' })), /br-veth already exists and is not managed/);
    });

    it('refuses the bridge of another tsnet network with the same name', async () => {
      const a = network(newId(), { bridgeName: 'br-shared', gateway4: '10.20.0.1/24' });
      const b = network(newId(), { bridgeName: 'br-shared', gateway4: '10.30.0.1/24' });
      await dp.createNetwork(a);
      await assertRejects(dp.createNetwork(b), new RegExp(`br-shared already exists and belongs to tsnet bridge network ${a.id}`));
      assert.deepEqual(ipAddrs('br-shared'), ['10.20.0.1/24']);
    });

    it('rejects invalid input before touching the kernel', async () => {
      await assertRejects(dp.createNetwork(network(newId(), { gateway4: '10.20.0.1' })), /invalid gateway "10.20.0.1"/);
      await assertRejects(dp.createNetwork(network(newId(), { gateway4: '10.20.0.300/24' })), /invalid gateway/);
      await assertRejects(dp.createNetwork(network(newId(), { mtu: 70000 })), /invalid MTU 70000/);
      await assertRejects(dp.createNetwork(network(newId(), { bridgeName: 'name-longer-than-15' })), /invalid bridge name/);
      assert.deepEqual(linkNames(), []);
    });

    it('a kernel failure half way (IPv6 address refused) deletes the bridge it created', async () => {
      writeFileSync(DISABLE_IPV6, '1'); // new links get IPv6 disabled: adding the v6 gateway fails
      const net = network(newId(), { gateway4: '10.20.0.1/24', gateway6: 'fd00:20::1/64' });
      await assertRejects(dp.createNetwork(net), /add address fd00:20::1\/64 to ts-\w+: E\w+/, nl.NetlinkError);
      assert.deepEqual(linkNames(), []);
      assert.deepEqual(firewall.calls, [], 'the firewall is not reached');
    });

    it('a firewall failure deletes the bridge it created and the rules', async () => {
      firewall.failAdd = true;
      const net = network(newId(), { gateway4: '10.20.0.1/24' });
      await assertRejects(dp.createNetwork(net), /simulated failure/, Error);
      assert.deepEqual(linkNames(), []);
      const name = bridgeName(net.id);
      assert.deepEqual(firewall.calls, [`add ${net.id} ${name}`, `remove ${net.id} ${name}`]);
    });

    it('a failure on a repeat keeps the bridge the first call created', async () => {
      const net = network(newId(), { gateway4: '10.20.0.1/24' });
      await dp.createNetwork(net);
      firewall.failAdd = true;
      await assertRejects(dp.createNetwork(net), /simulated failure/, Error);
      assert.ok(ipLink(bridgeName(net.id)));
    });

    it('deletes its bridge, idempotently, and removes the firewall rules', async () => {
      const net = network(newId(), { gateway4: '10.20.0.1/24' });
      net.datapath = await dp.createNetwork(net);
      await dp.deleteNetwork(net);
      assert.deepEqual(linkNames(), []);
      await dp.deleteNetwork(net);
      const name = bridgeName(net.id);
      assert.deepEqual(firewall.calls, [`add ${net.id} ${name}`, `remove ${net.id} ${name}`, `remove ${net.id} ${name}`]);
    });

    it('does not delete an interface of that name that is not its own', async () => {
      await nl.createLink({ kind: 'bridge', name: 'br-foreign' });
      await dp.deleteNetwork(network(newId(), { bridgeName: 'br-foreign' }));
      assert.ok(ipLink('br-foreign'));
      assert.ok(log.messages().some((m) => /not deleted/.test(m)));
    });
  });

  describe('endpoints', () => {
    let net: NetworkRecord;
    let bridge: string;

    beforeEach(async () => {
      net = network(newId(), { mtu: 1400, gateway4: '10.20.0.1/24' });
      net.datapath = await dp.createNetwork(net);
      bridge = net.datapath.bridgeName as string;
    });

    it('creates a veth pair: host end marked, on the bridge, MTU, up; container end with MTU and MAC', async () => {
      const ep = endpoint(net, '02:42:0a:14:00:02');
      const state = await dp.createEndpoint(net, ep);
      const host = hostVethName(ep.id);
      const container = containerVethName(ep.id);
      assert.deepEqual(state, { hostIfname: host, containerIfname: container });
      assert.ok(host.length <= 15 && container.length <= 15);

      const h = ipLink(host)!;
      assert.equal(h.linkinfo?.info_kind, 'veth');
      assert.equal(h.master, bridge);
      assert.equal(h.mtu, 1400);
      assert.ok(h.flags.includes('UP'));
      assert.equal(h.ifalias, `tsnet:${INSTANCE}:bridge:ep:${ep.id}`);
      assert.equal(h.link, container, 'the host end is the container end\'s peer');

      const c = ipLink(container)!;
      assert.equal(c.linkinfo?.info_kind, 'veth');
      assert.equal(c.mtu, 1400);
      assert.equal(c.address, '02:42:0a:14:00:02');
      assert.equal(c.master, undefined);
      assert.equal(c.link, host);
    });

    it('uses MTU 1500 when the network sets none', async () => {
      const plain = network(newId(), { gateway4: '10.30.0.1/24' });
      plain.datapath = await dp.createNetwork(plain);
      const ep = endpoint(plain);
      await dp.createEndpoint(plain, ep);
      assert.equal(ipLink(hostVethName(ep.id))?.mtu, 1500);
      assert.equal(ipLink(containerVethName(ep.id))?.mtu, 1500);
    });

    it('is idempotent, and a repeat puts a detached host end back on the bridge', async () => {
      const ep = endpoint(net);
      const first = await dp.createEndpoint(net, ep);
      const index = ipLink(hostVethName(ep.id))!.ifindex;
      await nl.setMaster(hostVethName(ep.id), 0);
      await nl.setLinkDown(hostVethName(ep.id));
      assert.deepEqual(await dp.createEndpoint(net, ep), first);
      const h = ipLink(hostVethName(ep.id))!;
      assert.equal(h.ifindex, index, 'not recreated');
      assert.equal(h.master, bridge);
      assert.ok(h.flags.includes('UP'));
      assert.equal(linkNames().length, 3);
    });

    it('refuses a foreign interface with the container end\'s name, leaving nothing behind', async () => {
      const ep = endpoint(net);
      await nl.createLink({ kind: 'bridge', name: containerVethName(ep.id) });
      await assertRejects(dp.createEndpoint(net, ep), new RegExp(`interface ${containerVethName(ep.id)} already exists and is not managed by tsnet`));
      assert.equal(ipLink(hostVethName(ep.id)), undefined);
    });

    it('refuses a multicast MAC before touching the kernel', async () => {
      const ep = endpoint(net, '01:00:5e:00:00:01');
      await assertRejects(dp.createEndpoint(net, ep), /invalid MAC address "01:00:5e:00:00:01"/);
      assert.deepEqual(linkNames(), [bridge]);
    });

    it('recreates a missing bridge before adding the endpoint (and logs it)', async () => {
      await nl.deleteLink(bridge);
      const ep = endpoint(net);
      await dp.createEndpoint(net, ep);
      assert.equal(ipLink(hostVethName(ep.id))?.master, bridge);
      assert.deepEqual(ipAddrs(bridge), ['10.20.0.1/24']);
      assert.ok(log.messages().includes('bridge missing; recreating it'));
    });

    it('deletes the pair, idempotently, and never a foreign link with its name', async () => {
      const ep = endpoint(net);
      ep.datapath = await dp.createEndpoint(net, ep);
      await dp.deleteEndpoint(net, ep);
      assert.deepEqual(linkNames(), [bridge]);
      await dp.deleteEndpoint(net, ep);

      const other = endpoint(net);
      await nl.createLink({ kind: 'veth', name: hostVethName(other.id), peer: { name: 'foreign-peer' } });
      await dp.deleteEndpoint(net, other);
      assert.ok(ipLink(hostVethName(other.id)));
    });

    it('join returns the container end; leave and external connectivity touch nothing', async () => {
      const ep = endpoint(net);
      ep.datapath = await dp.createEndpoint(net, ep);
      const before = linkNames();
      assert.deepEqual(await dp.join(net, ep, '/var/run/docker/netns/0123456789ab'), { srcName: containerVethName(ep.id) });
      assert.deepEqual(await dp.programExternalConnectivity(net, ep), {});
      await dp.revokeExternalConnectivity(net, ep);
      await dp.leave(net, ep);
      await dp.discoverNew({ address: '192.0.2.1', bindAddress: '', self: false });
      await dp.discoverDelete({ address: '192.0.2.1', bindAddress: '', self: false });
      assert.deepEqual(linkNames(), before);
    });

    it('join recreates a pair that has disappeared', async () => {
      const ep = endpoint(net, '02:42:0a:14:00:09');
      ep.datapath = await dp.createEndpoint(net, ep);
      await nl.deleteLink(containerVethName(ep.id)); // takes the host end with it
      assert.deepEqual(linkNames(), [bridge]);
      assert.deepEqual(await dp.join(net, ep, '/var/run/docker/netns/0123456789ab'), { srcName: containerVethName(ep.id) });
      assert.equal(ipLink(containerVethName(ep.id))?.address, '02:42:0a:14:00:09');
      assert.equal(ipLink(hostVethName(ep.id))?.master, bridge);
    });

    it('says clearly when the bridge is full (1023 ports), leaving nothing behind', function () {
      // Deleting 1023 veth pairs one by one takes ~17 s (an RCU wait per link), so this runs in a
      // child process in a namespace of its own, which the kernel tears down in one batch.
      this.timeout(120000);
      const script = `
        const { execFileSync } = require('node:child_process');
        const { BridgeDataPath } = require(${JSON.stringify(require.resolve('../../../../src/datapath/bridge/bridge'))});
        const { hostVethName, containerVethName } = require(${JSON.stringify(require.resolve('../../../../src/datapath/shared/names'))});
        const net = JSON.parse(process.argv[1]);
        const ep = (id) => ({ networkId: net.id, id, macAddress: '', macFromDriver: true, portBindings: [], exposedPorts: [],
          externalConnectivity: false, createdAt: '', datapath: {} });
        const id = (i) => i.toString(16).padStart(12, '0').padEnd(64, 'a');
        const log = { info() {}, warn() {}, error() {}, debug() {} };
        (async () => {
          const dp = new BridgeDataPath({ log, instance: 'nstest' });
          await dp.createNetwork(net);
          const started = Date.now();
          for (let i = 1; i <= 1023; i++) await dp.createEndpoint(net, ep(id(i)));
          const ms = Date.now() - started;
          let error = 'none';
          try { await dp.createEndpoint(net, ep(id(1024))); } catch (e) { error = e.constructor.name + ': ' + e.message; }
          const names = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })).map((l) => l.ifname);
          const left = [hostVethName(id(1024)), containerVethName(id(1024))].filter((n) => names.includes(n));
          console.log(JSON.stringify({ error, left, links: names.length, ms }));
        })().catch((e) => { console.log(JSON.stringify({ crash: String(e) })); });
      `;
      const net = network('f'.repeat(64), { gateway4: '10.20.0.1/24' });
      const out = runSync('unshare', ['--net', process.execPath, '-e', script, JSON.stringify(net)]);
      const result = JSON.parse(out.trim().split('\n').pop()!) as { error: string; left: string[]; links: number; ms: number; crash?: string };
      assert.equal(result.crash, undefined);
      assert.match(result.error, /^DataPathError: bridge ts-ffffffffff already has 1023 ports, the kernel's limit/);
      assert.deepEqual(result.left, []);
      assert.equal(result.links, 1 + 1 + 2 * 1023, 'lo, the bridge and 1023 pairs');
      console.log(`      (1023 endpoints created in ${result.ms} ms)`);
    });
  });

  describe('reconcile', () => {
    it('recreates and repairs stored objects, deletes only this instance\'s orphans', async () => {
      // Stored: network A (its bridge will vanish) with an endpoint; network B (damaged) with an endpoint (vanished).
      const a = network(newId(), { mtu: 1400, gateway4: '10.20.0.1/24', gateway6: 'fd00:20::1/64' });
      const b = network(newId(), { gateway4: '10.30.0.1/24' });
      a.datapath = await dp.createNetwork(a);
      b.datapath = await dp.createNetwork(b);
      const epA = endpoint(a, '02:42:0a:14:00:02');
      const epB = endpoint(b, '02:42:0a:1e:00:02');
      epA.datapath = await dp.createEndpoint(a, epA);
      epB.datapath = await dp.createEndpoint(b, epB);
      const bridgeA = bridgeName(a.id);
      const bridgeB = bridgeName(b.id);
      await nl.deleteLink(bridgeA); // epA's host end is left without a master
      await nl.deleteLink(hostVethName(epB.id));
      await nl.deleteAddress(bridgeB, '10.30.0.1/24');
      await nl.setLinkDown(bridgeB);

      // Not stored: an orphan network and endpoint of this instance.
      const c = network(newId(), { gateway4: '10.40.0.1/24' });
      c.datapath = await dp.createNetwork(c);
      const epC = endpoint(c);
      await dp.createEndpoint(c, epC);
      // Not ours: a foreign bridge, another instance's network, and this instance's vxlan-marked link.
      await nl.createLink({ kind: 'bridge', name: 'br-foreign' });
      const otherInstance = new BridgeDataPath({ log: log.log, instance: 'other' });
      const d = network(newId(), { gateway4: '10.50.0.1/24' });
      await otherInstance.createNetwork(d);
      const vx = await nl.createLink({ kind: 'bridge', name: 'ts-vxlanbr' });
      await nl.setAlias(vx, `tsnet:${INSTANCE}:vxlan:net:${newId()}`);

      firewall.calls = [];
      await dp.reconcile([a, b], [epA, epB]);

      const la = ipLink(bridgeA)!;
      assert.equal(la.mtu, 1400);
      assert.ok(la.flags.includes('UP'));
      assert.equal(la.ifalias, `tsnet:${INSTANCE}:bridge:net:${a.id}`);
      assert.deepEqual(ipAddrs(bridgeA), ['10.20.0.1/24', 'fd00:20::1/64']);
      assert.equal(ipLink(hostVethName(epA.id))?.master, bridgeA);
      assert.ok(ipLink(bridgeB)!.flags.includes('UP'));
      assert.deepEqual(ipAddrs(bridgeB), ['10.30.0.1/24']);
      // epB was never joined: its missing pair is made by its Join, not at start.
      assert.equal(ipLink(hostVethName(epB.id)), undefined);
      assert.equal(ipLink(containerVethName(epB.id)), undefined);

      assert.equal(ipLink(bridgeName(c.id)), undefined, 'orphan bridge deleted');
      assert.equal(ipLink(hostVethName(epC.id)), undefined, 'orphan veth deleted');
      assert.equal(ipLink(containerVethName(epC.id)), undefined, 'orphan veth peer deleted');
      assert.ok(ipLink('br-foreign'), 'foreign bridge kept');
      assert.ok(ipLink(bridgeName(d.id)), 'other instance\'s bridge kept');
      assert.ok(ipLink('ts-vxlanbr'), 'other data path\'s link kept');
      assert.deepEqual(firewall.calls.sort(), [`add ${a.id} ${bridgeA}`, `add ${b.id} ${bridgeB}`].sort());

      const messages = log.messages();
      for (const expected of [
        'reconcile: recreated missing bridge',
        'reconcile: repaired bridge',
        'reconcile: repaired veth',
        'reconcile: veths of endpoints not joined yet are missing; Join recreates them',
        'reconcile: deleted orphan link',
      ]) {
        assert.ok(messages.includes(expected), `no "${expected}" in ${JSON.stringify(messages)}`);
      }
      assert.ok(!messages.includes('reconcile: recreated missing veth'));
      assert.equal(messages.filter((m) => m === 'reconcile: deleted orphan link').length, 2);

      // epB's Join makes its pair, on its bridge, with its MAC.
      assert.deepEqual(await dp.join(b, epB, '/var/run/docker/netns/b'), { srcName: containerVethName(epB.id) });
      assert.equal(ipLink(hostVethName(epB.id))?.master, bridgeB);
      assert.equal(ipLink(containerVethName(epB.id))?.address, '02:42:0a:1e:00:02');

      // A second pass finds nothing to do.
      const links = linkNames();
      const logged = log.messages().length;
      await dp.reconcile([a, b], [epA, epB]);
      assert.deepEqual(linkNames(), links);
      assert.deepEqual(log.messages().slice(logged), []);
    });

    it('reports what it could not repair after doing the rest', async () => {
      const good = network(newId(), { gateway4: '10.20.0.1/24' });
      const clash = network(newId(), { bridgeName: 'br-clash', gateway4: '10.30.0.1/24' });
      await nl.createLink({ kind: 'bridge', name: 'br-clash' });
      await assert.rejects(dp.reconcile([clash, good], []), /bridge reconcile left 1 problem\(s\): network \w+: interface br-clash already exists/);
      assert.ok(ipLink(bridgeName(good.id)), 'the other network was still repaired');
    });
  });
});
