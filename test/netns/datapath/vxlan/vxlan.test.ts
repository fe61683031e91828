/**
 * VxlanDataPath against the real kernel. The mocha process runs in a private network namespace
 * ("host A", `unshare --net`); the test makes more namespaces as child processes (`unshare --net
 * sleep`), so nothing outlives the run:
 *
 *   host A (this process)                               host B (child netns, set up with `ip`)
 *   ul0 10.211.0.1/24 mtu 1400 ──── veth underlay ──── eth0 10.211.0.2/24
 *   ts-… bridge 10.77.0.1 (data path)                  brB 10.77.0.1, same anycast MAC
 *   tsx… vxlan 42 (data path)                          vxB vxlan 42, flood → 10.211.0.1
 *   container cA 10.77.0.2 (veth from the data path)   container cB 10.77.0.130
 *
 * Assertions read the kernel back with `ip -j`, `bridge -j` and ebtables-save, never with the module.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { EbtablesGatewayFilter, gatewayChainName, gatewayRules } from '../../../../src/firewall/gateway-filter';
import { anycastGatewayMac } from '../../../../src/datapath/vxlan/anycast';
import { execCommand, type CommandRunner } from '../../../../src/firewall/runner';
import type { BridgeFirewall } from '../../../../src/datapath/bridge/bridge';
import { DataPathError } from '../../../../src/datapath/datapath';
import { vethNamesOf } from '../../../../src/datapath/shared/bridge-links';
import { containerVethName, ownerMarker } from '../../../../src/datapath/shared/names';
import { VxlanDataPath, vxlanName, type VxlanNetworkState } from '../../../../src/datapath/vxlan/vxlan';
import type { EndpointRecord, NetworkRecord } from '../../../../src/model/records';
import { testLogger } from '../../../../src/log';
import { DockerNetworkPeers } from '../../../../src/swarm/network-peers';
import { ChildNs, DF_PING, eventually, ipLink, requireThrowawayNetns, runSync as run, moveIntoContainer, unwireRemoteHost, wireRemoteHost } from '../../../lab';
import { fakeClock, type FakeClock } from '../../../lab/fake-clock';
import { endpointRecord, ipamPool, networkRecord, newId, vxlanOptions } from '../../../lab/records';
import type { FirewallNetwork } from '../../../../src/firewall/network';

const INSTANCE = 'nsvx';
const A_UNDERLAY = '10.211.0.1';
const B_UNDERLAY = '10.211.0.2';
const UNDERLAY_MTU = 1400;
const OVERLAY_MTU = UNDERLAY_MTU - 50;
const VNI = 42;
const GATEWAY_MAC = '02:74:73:00:00:2a';


class RecordingFirewall implements BridgeFirewall {
  calls: string[] = [];
  async addNetwork(net: FirewallNetwork): Promise<void> {
    this.calls.push(`add ${net.id.slice(0, 12)} ${net.bridge}`);
  }
  async removeNetwork(net: FirewallNetwork): Promise<void> {
    this.calls.push(`remove ${net.id.slice(0, 12)} ${net.bridge}`);
  }
}

interface NetOptions {
  vni?: number;
  port?: number;
  peers?: string[];
  underlay?: string;
  mtu?: number;
}

function network(id: string, o: NetOptions = {}): NetworkRecord {
  return networkRecord(vxlanOptions({ vni: VNI, peers: [A_UNDERLAY, B_UNDERLAY], underlay: 'ul0', mtu: undefined, ...o }), {
    id,
    ipv4: [ipamPool('10.77.0.0/24', '10.77.0.1/24')],
  });
}

function endpoint(net: NetworkRecord, address: string, mac: string): EndpointRecord {
  return endpointRecord(net, { address, macAddress: mac });
}

interface FdbJson {
  mac: string;
  dst?: string;
  flags: string[];
  state?: string;
}

function floodDsts(dev: string): string[] {
  const entries = JSON.parse(run('bridge', ['-j', 'fdb', 'show', 'dev', dev])) as FdbJson[];
  return entries.filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!).sort();
}

function vxlanInfo(dev: string): Record<string, unknown> {
  const [link] = JSON.parse(run('ip', ['-j', '-d', 'link', 'show', dev])) as { linkinfo: { info_data: Record<string, unknown>; info_slave_data?: Record<string, unknown> } }[];
  return { ...link!.linkinfo.info_data, slave: link!.linkinfo.info_slave_data };
}

function ebtablesChain(chain: string): string[] {
  const save = run('xtables-nft-multi', ['ebtables-save']);
  return save.split('\n').filter((l) => l.startsWith(`-A ${chain} `) || l.endsWith(`-j ${chain}`));
}

interface Lab {
  hostB: ChildNs;
  cA: ChildNs;
  cB: ChildNs;
}

/**
 * Host B, containers cA and cB, and the underlay veth ul0 (host A) <-> eth0 (host B). Host B gets by
 * hand what tsnet would make there (bridge with the anycast gateway, VXLAN 42 flooding to host A,
 * container cB on it). cA is empty: the data path under test makes its interface.
 */
async function startLab(): Promise<Lab> {
  const hostB = await ChildNs.start('hostB');
  const cA = await ChildNs.start('cA');
  const cB = await ChildNs.start('cB');
  for (const ns of [cA, cB, hostB]) ns.sh('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');
  // Host A too: the IPv6 chatter of its bridge ports (router solicitations, MLD) would cross the VXLAN
  // at random moments and spoil the packet counts of the gateway test.
  run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);

  wireRemoteHost(hostB, cB, {
    aUnderlay: A_UNDERLAY,
    bUnderlay: B_UNDERLAY,
    prefixLength: 24,
    underlayMtu: UNDERLAY_MTU,
    overlayMtu: OVERLAY_MTU,
    vni: VNI,
    gateway: '10.77.0.1/24',
    gatewayMac: GATEWAY_MAC,
    cB: '10.77.0.130/24',
    cBMac: '02:42:0a:4d:00:82',
    neighSuppress: true,
  });
  return { hostB, cA, cB };
}

function stopLab(lab: Partial<Lab>): void {
  for (const ns of [lab.cA, lab.cB, lab.hostB]) ns?.stop();
  run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
  unwireRemoteHost();
}

describe('vxlan data path (netns)', function () {
  this.timeout(30000);
  const log = testLogger();
  const chain = gatewayChainName(INSTANCE);
  let hostB: ChildNs;
  let cA: ChildNs;
  let cB: ChildNs;
  let firewall: RecordingFirewall;
  let filter: EbtablesGatewayFilter;
  let dp: VxlanDataPath;
  let net: NetworkRecord;
  let epA: EndpointRecord;

  before(async function () {
    requireThrowawayNetns(this);
    ({ hostB, cA, cB } = await startLab());

    firewall = new RecordingFirewall();
    filter = new EbtablesGatewayFilter({ instance: INSTANCE, logger: log });
    dp = new VxlanDataPath({ log, instance: INSTANCE, firewall, gatewayFilter: filter, peerIntervalMs: 0 });
    net = network(newId());
    net.datapath = await dp.createNetwork(net);
    epA = endpoint(net, '10.77.0.2/24', '02:42:0a:4d:00:02');
    epA.datapath = await dp.createEndpoint(net, epA);
    const { srcName } = await dp.join(net, epA, '/var/run/docker/netns/test');
    moveIntoContainer(srcName, cA, '10.77.0.2/24', '10.77.0.1');
  });

  after(async () => {
    dp?.stop();
    if (dp && net) await dp.deleteNetwork(net).catch(() => undefined);
    stopLab({ hostB, cA, cB });
    await filter?.replaceAll([]).catch(() => undefined);
  });

  it('creates the VXLAN device with VNI, port, local address, underlay link, learning and the overlay MTU', () => {
    const state = net.datapath as unknown as VxlanNetworkState;
    const dev = vxlanName(net.id);
    assert.equal(state.vxlanName, dev);
    assert.deepEqual(
      { vni: state.vni, port: state.port, local: state.local, underlay: state.underlay, mtu: state.mtu, gatewayMac: state.gatewayMac },
      { vni: VNI, port: 4789, local: A_UNDERLAY, underlay: 'ul0', mtu: OVERLAY_MTU, gatewayMac: GATEWAY_MAC },
    );
    const info = vxlanInfo(dev);
    assert.equal(info.id, VNI);
    assert.equal(info.port, 4789);
    assert.equal(info.local, A_UNDERLAY);
    assert.equal(info.link, 'ul0');
    assert.equal(info.learning, true);
    const link = ipLink(dev)!;
    assert.equal(link.mtu, OVERLAY_MTU);
    assert.equal(link.master, state.bridgeName);
    assert.ok(link.flags.includes('UP'));
    assert.equal(link.ifalias, ownerMarker({ instance: INSTANCE, type: 'vxlan', object: 'net', id: net.id }));
    assert.equal((info.slave as Record<string, unknown>).neigh_suppress, true, 'neigh_suppress on the VXLAN bridge port');
  });

  it('the bridge carries the anycast gateway: gateway IP, MAC derived from the VNI, overlay MTU', () => {
    const state = net.datapath as unknown as VxlanNetworkState;
    assert.equal(anycastGatewayMac(VNI), GATEWAY_MAC);
    const bridge = ipLink(state.bridgeName)!;
    assert.equal(bridge.address, GATEWAY_MAC);
    assert.equal(bridge.mtu, OVERLAY_MTU);
    assert.match(run('ip', ['-j', 'addr', 'show', 'dev', state.bridgeName]), /"local":"10\.77\.0\.1","prefixlen":24/);
    assert.deepEqual(firewall.calls, [`add ${net.id.slice(0, 12)} ${state.bridgeName}`]);
  });

  it('floods to every peer but itself (head-end replication)', () => {
    assert.deepEqual(floodDsts(vxlanName(net.id)), [B_UNDERLAY]);
  });

  it('the container end of the veth gets the overlay MTU', () => {
    assert.equal(String((JSON.parse(cA.exec(['ip', '-j', 'link', 'show', 'eth0'])) as { mtu: number }[])[0]!.mtu), String(OVERLAY_MTU));
    assert.equal(ipLink(`tsv${epA.id.slice(0, 12)}`)!.mtu, OVERLAY_MTU);
  });

  it('containers on the two hosts reach each other (ARP both ways), and the kernel learns the remote MAC', () => {
    assert.equal(cA.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.130']), 0, 'cA -> cB');
    assert.equal(cB.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.2']), 0, 'cB -> cA');
    assert.match(cA.exec(['ip', 'neigh', 'show', '10.77.0.130']), /02:42:0a:4d:00:82/);
    assert.match(cB.exec(['ip', 'neigh', 'show', '10.77.0.2']), /02:42:0a:4d:00:02/);
    const learned = JSON.parse(run('bridge', ['-j', 'fdb', 'show', 'dev', vxlanName(net.id)])) as FdbJson[];
    assert.ok(learned.some((e) => e.mac === '02:42:0a:4d:00:82' && e.dst === B_UNDERLAY), 'remote MAC learned with its VTEP');
  });

  it('a don\'t-fragment ping of MTU-28 bytes passes, one of MTU-27 bytes is refused', () => {
    const df = (size: number) => cA.status(['perl', '-e', DF_PING, '10.77.0.130', String(size)]);
    assert.equal(df(OVERLAY_MTU - 28), 0, `DF ping of ${OVERLAY_MTU - 28} bytes`);
    assert.notEqual(df(OVERLAY_MTU - 27), 0, `DF ping of ${OVERLAY_MTU - 27} bytes`);
  });

  it('TCP works across the hosts', async () => {
    const server = spawn('nsenter', ['-t', String(cB.pid), '-n', '--', 'busybox', 'nc', '-l', '-p', '5001'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let got = '';
    server.stdout.on('data', (b: Buffer) => (got += b.toString()));
    try {
      await eventually(() => assert.match(cB.exec(['busybox', 'netstat', '-ltn']), /:5001\b/), { timeout: 5000, what: 'the listener on c2:5001' });
      execFileSync('nsenter', ['-t', String(cA.pid), '-n', '--', 'busybox', 'nc', '-w', '3', '10.77.0.130', '5001'], { input: 'hello over vxlan\n' });
      await eventually(() => assert.equal(got, 'hello over vxlan\n'), { timeout: 3000, what: 'the line at c2' });
    } finally {
      server.kill();
    }
  });

  it("each container's gateway is its own host's: same IP, same MAC; gateway ARP and the gateway's frames never cross", async () => {
    const rx = () => {
      const [l] = JSON.parse(hostB.exec(['ip', '-j', '-s', 'link', 'show', 'vxB'])) as { stats64: { rx: { packets: number } } }[];
      return l!.stats64.rx.packets;
    };
    const bridge = (net.datapath as unknown as VxlanNetworkState).bridgeName;
    // A container ARPs for its gateway (neigh_suppress + filter keep it local) ...
    cA.exec(['ip', 'neigh', 'flush', 'all']);
    let before = rx();
    assert.equal(cA.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.1']), 0, 'cA -> its gateway');
    assert.match(cA.exec(['ip', 'neigh', 'show', '10.77.0.1']), new RegExp(GATEWAY_MAC));
    // ... and host A ARPs for its container from the gateway MAC (only the filter keeps that local).
    run('ip', ['neigh', 'flush', 'dev', bridge]);
    assert.equal(run('busybox', ['ping', '-c', '1', '-W', '2', '10.77.0.2']).includes('1 packets received'), true, 'host A -> cA');
    assert.equal(rx(), before, 'nothing of that reached host B over the VXLAN');
    cB.exec(['ip', 'neigh', 'flush', 'all']);
    assert.equal(cB.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.1']), 0, 'cB -> its gateway');
    assert.match(cB.exec(['ip', 'neigh', 'show', '10.77.0.1']), new RegExp(GATEWAY_MAC));
    assert.deepEqual(ebtablesChain(chain), [
      `-A INPUT -j ${chain}`,
      `-A FORWARD -j ${chain}`,
      `-A OUTPUT -j ${chain}`,
      `-A ${chain} -s ${GATEWAY_MAC} -o ${vxlanName(net.id)} -j DROP`,
      `-A ${chain} -s ${GATEWAY_MAC} -i ${vxlanName(net.id)} -j DROP`,
      `-A ${chain} -p ARP -o ${vxlanName(net.id)} --arp-ip-dst 10.77.0.1 -j DROP`,
    ]);

    // The measurement does see leaks: without the filter, host A's ARP crosses (neigh_suppress alone
    // still keeps a container's ARP for the gateway local).
    await filter.remove(vxlanName(net.id));
    try {
      cA.exec(['ip', 'neigh', 'flush', 'all']);
      before = rx();
      assert.equal(cA.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.1']), 0);
      assert.equal(rx(), before, 'neigh_suppress keeps the gateway ARP off the VXLAN');
      run('ip', ['neigh', 'flush', 'dev', bridge]);
      run('busybox', ['ping', '-c', '1', '-W', '2', '10.77.0.2']);
      assert.ok(rx() > before, 'without the filter the gateway-MAC ARP reaches host B');
    } finally {
      await dp.reconcile([net], [epA]);
    }
    assert.equal(ebtablesChain(chain).length, 6, 'reconcile put the filter back');
  });

  it('the gateway filter works without /etc/ethertypes (as in the managed plugin\'s rootfs)', async () => {
    const entry = { device: 'tsxethertypes', mac: '02:74:73:00:00:07', ipv4: ['10.9.9.1'] };
    const script =
      `const { EbtablesGatewayFilter } = require(${JSON.stringify(require.resolve('../../../../src/firewall/gateway-filter'))});` +
      `new EbtablesGatewayFilter({ instance: 'nsvxeth' }).set(${JSON.stringify(entry)}).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });`;
    execFileSync('unshare', ['--mount', '--', 'sh', '-ec', 'mount --bind /dev/null /etc/ethertypes; exec "$0" -e "$1"', process.execPath, script], { stdio: 'pipe' });
    let restores = 0;
    const counting: CommandRunner = (file, args, input) => {
      if (args.some((a) => a.includes('restore')) || file.includes('restore')) restores++;
      return execCommand(file, args, input);
    };
    const other = new EbtablesGatewayFilter({ instance: 'nsvxeth', runner: counting });
    try {
      assert.deepEqual(await other.rules(), gatewayRules(entry), 'the rules read back the same with /etc/ethertypes present');
      await other.set(entry);
      assert.equal(restores, 0, 'nothing to change');
    } finally {
      await other.replaceAll([]);
    }
    assert.deepEqual(ebtablesChain(gatewayChainName('nsvxeth')), []);
  });

  it('reconcile recreates a missing VXLAN device and flood entry, keeps the rest, removes orphans', async () => {
    const dev = vxlanName(net.id);
    run('ip', ['link', 'del', dev]);
    // An orphan of this type (a network tsnet no longer knows) and one of the bridge type.
    const orphanId = newId();
    run('ip', ['link', 'add', 'tsxorphan', 'type', 'bridge']);
    run('ip', ['link', 'set', 'tsxorphan', 'alias', ownerMarker({ instance: INSTANCE, type: 'vxlan', object: 'net', id: orphanId })]);
    run('ip', ['link', 'add', 'tsbrother', 'type', 'bridge']);
    run('ip', ['link', 'set', 'tsbrother', 'alias', ownerMarker({ instance: INSTANCE, type: 'bridge', object: 'net', id: orphanId })]);
    try {
      await dp.reconcile([net], [epA]);
      const info = vxlanInfo(dev);
      assert.deepEqual([info.id, info.port, info.local, info.learning], [VNI, 4789, A_UNDERLAY, true]);
      assert.equal(ipLink(dev)!.master, (net.datapath as unknown as VxlanNetworkState).bridgeName);
      assert.deepEqual(floodDsts(dev), [B_UNDERLAY]);
      assert.equal(ipLink('tsxorphan'), undefined, 'vxlan orphan deleted');
      assert.ok(ipLink('tsbrother'), 'another type\'s link left alone');
      assert.equal(cA.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.130']), 0, 'connectivity back');

      // A flood entry removed by hand comes back, an extra one goes.
      run('bridge', ['fdb', 'del', '00:00:00:00:00:00', 'dev', dev, 'dst', B_UNDERLAY]);
      run('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', dev, 'dst', '10.211.0.99']);
      await dp.reconcile([net], [epA]);
      assert.deepEqual(floodDsts(dev), [B_UNDERLAY]);
    } finally {
      run('ip', ['link', 'del', 'tsbrother']);
      if (ipLink('tsxorphan')) run('ip', ['link', 'del', 'tsxorphan']);
    }
  });

  it("reconcile puts a bridge port's hairpin back, and leaves the missing veth of an endpoint not joined yet to its Join", async () => {
    const hairpinOf = (dev: string) => (JSON.parse(run('bridge', ['-j', '-d', 'link', 'show', 'dev', dev]) || '[]') as { hairpin?: boolean }[])[0]?.hairpin;
    const hostA = vethNamesOf(epA).hostIfname;
    const epB = endpoint(net, '10.77.0.3/24', '02:42:0a:4d:00:03');
    epB.datapath = await dp.createEndpoint(net, epB);
    const namesB = vethNamesOf(epB);
    try {
      run('bridge', ['link', 'set', 'dev', hostA, 'hairpin', 'off']);
      run('ip', ['link', 'del', namesB.hostIfname]);
      await dp.reconcile([net], [epA, epB]);
      assert.equal(hairpinOf(hostA), true, 'hairpin back on');
      assert.equal(ipLink(namesB.hostIfname), undefined, 'not recreated at start');
      const { srcName } = await dp.join(net, epB, '/var/run/docker/netns/test-b');
      assert.equal(srcName, namesB.containerIfname);
      assert.equal(ipLink(namesB.hostIfname)?.master, (net.datapath as unknown as VxlanNetworkState).bridgeName, 'Join made the pair, on the bridge');
      assert.equal(hairpinOf(namesB.hostIfname), true);
    } finally {
      await dp.deleteEndpoint(net, epB);
    }
    assert.equal(ipLink(namesB.hostIfname), undefined);
  });

  it('refuses a VNI another tsnet network or a foreign device uses, with a clear error', async () => {
    const other = network(newId());
    await assert.rejects(dp.createNetwork(other), (err: Error) => {
      assert.ok(err instanceof DataPathError);
      assert.match(err.message, new RegExp(`VNI ${VNI} \\(UDP port 4789\\) is already used by tsnet vxlan network ${net.id.slice(0, 12)}`));
      return true;
    });
    assert.equal(ipLink(vxlanName(other.id)), undefined);
    assert.equal(ipLink(`ts-${other.id.slice(0, 10)}`), undefined, 'its bridge was removed again');

    run('ip', ['link', 'add', 'foreignvx', 'type', 'vxlan', 'id', '43', 'dstport', '4789', 'local', A_UNDERLAY]);
    try {
      await assert.rejects(dp.createNetwork(network(newId(), { vni: 43 })), /VNI 43 \(UDP port 4789\) is already used on this host by interface foreignvx, which tsnet does not manage/);
    } finally {
      run('ip', ['link', 'del', 'foreignvx']);
    }
    // Another port is another VXLAN socket: the same VNI is fine there.
    const elsewhere = network(newId(), { port: 4790 });
    elsewhere.datapath = await dp.createNetwork(elsewhere);
    await dp.deleteNetwork(elsewhere);
  });

  it('needs a VNI outside Swarm, and an underlay', async () => {
    await assert.rejects(dp.createNetwork(network(newId(), { vni: undefined })), /needs -o vni=N/);
    await assert.rejects(dp.createNetwork(network(newId(), { vni: 50, underlay: undefined, peers: [] })), /no default route .* -o underlay=IFACE\|ADDR/);
    await assert.rejects(
      dp.createNetwork(network(newId(), { vni: 50, underlay: undefined, peers: ['10.99.99.9'] })),
      /no route to peer\(s\) 10\.99\.99\.9 .* -o underlay=IFACE\|ADDR/,
    );
    await assert.rejects(dp.createNetwork(network(newId(), { vni: 50, underlay: 'nosuchif' })), /underlay interface nosuchif does not exist/);
    await assert.rejects(dp.createNetwork(network(newId(), { vni: 50, underlay: '10.211.0.77' })), /10\.211\.0\.77 is not an address of this host/);
    await assert.rejects(dp.createNetwork(network(newId(), { vni: 50, peers: ['fd00::1'] })), /peer fd00::1 is IPv6 but the underlay address is IPv4/);
  });

  it('with -o peers and no default route, takes the interface of the route to the peers as underlay (issue 14)', async () => {
    const net = network(newId(), { vni: 53, underlay: undefined });
    assert.equal(run('ip', ['route', 'show', 'default']).trim(), '', 'no default route on this host');
    net.datapath = await dp.createNetwork(net);
    try {
      const state = net.datapath as unknown as VxlanNetworkState;
      assert.deepEqual([state.local, state.underlay], [A_UNDERLAY, 'ul0']);
      assert.deepEqual(floodDsts(state.vxlanName), [B_UNDERLAY]);
    } finally {
      await dp.deleteNetwork(net);
    }
  });

  it('takes the default route\'s interface as underlay, and the MTU option when it is less', async () => {
    run('ip', ['route', 'add', 'default', 'via', B_UNDERLAY, 'dev', 'ul0']);
    const made: NetworkRecord[] = [];
    try {
      const n1 = network(newId(), { vni: 51, underlay: undefined, peers: [], mtu: 1300 });
      n1.datapath = await dp.createNetwork(n1);
      made.push(n1);
      const s1 = n1.datapath as unknown as VxlanNetworkState;
      assert.deepEqual([s1.local, s1.underlay, s1.mtu], [A_UNDERLAY, 'ul0', 1300]);
      assert.equal(ipLink(s1.vxlanName)!.mtu, 1300);
      const n2 = network(newId(), { vni: 52, underlay: A_UNDERLAY, mtu: 9000 });
      n2.datapath = await dp.createNetwork(n2);
      made.push(n2);
      assert.equal((n2.datapath as unknown as VxlanNetworkState).mtu, OVERLAY_MTU, 'an MTU above what the underlay carries is lowered');
    } finally {
      for (const n of made) await dp.deleteNetwork(n);
      run('ip', ['route', 'del', 'default']);
    }
  });

  it('deleteNetwork removes the devices, their FDB entries and the gateway filter', async () => {
    const n = network(newId(), { vni: 60 });
    n.datapath = await dp.createNetwork(n);
    const ep = endpoint(n, '10.77.0.3/24', '02:42:0a:4d:00:03');
    ep.datapath = await dp.createEndpoint(n, ep);
    const s = n.datapath as unknown as VxlanNetworkState;
    assert.ok(ebtablesChain(chain).some((r) => r.includes(s.vxlanName)));
    await dp.deleteEndpoint(n, ep);
    await dp.deleteNetwork(n);
    assert.equal(ipLink(s.vxlanName), undefined);
    assert.equal(ipLink(s.bridgeName), undefined);
    assert.equal(ipLink(containerVethName(ep.id)), undefined);
    const withDst = (JSON.parse(run('bridge', ['-j', 'fdb', 'show'])) as (FdbJson & { ifname: string })[]).filter((e) => e.dst);
    assert.deepEqual([...new Set(withDst.map((e) => e.ifname))], [vxlanName(net.id)], 'only the first network has VXLAN FDB entries left');
    assert.ok(!ebtablesChain(chain).some((r) => r.includes(s.vxlanName)));
    await dp.deleteNetwork(n); // repeat: nothing to do
  });

  it('after the last network is gone, no tsnet link, FDB entry or filter rule is left', async () => {
    await dp.deleteEndpoint(net, epA);
    await dp.deleteNetwork(net);
    const links = JSON.parse(run('ip', ['-j', 'link', 'show'])) as { ifname: string; ifalias?: string }[];
    assert.deepEqual(links.filter((l) => l.ifalias?.startsWith(`tsnet:${INSTANCE}:`)).map((l) => l.ifname), []);
    assert.deepEqual(JSON.parse(run('bridge', ['-j', 'fdb', 'show'])).filter((e: FdbJson) => e.dst), []);
    assert.deepEqual(ebtablesChain(chain), []);
  });
});

/**
 * The Swarm pieces of the data path, against the same two-host lab: the node's own address from
 * DiscoverNew Self, flood peers from DiscoverNew / DiscoverDelete (with the grace period), from
 * Docker's peer list, from traffic (self-healing), and after a restart (stored peers replayed).
 */
describe('vxlan data path: Swarm peers (netns)', function () {
  this.timeout(30000);
  const log = testLogger();
  const GRACE_MS = 300;
  let lab: Lab | undefined;
  let filter: EbtablesGatewayFilter;
  let dp: VxlanDataPath;
  let net: NetworkRecord;
  let epA: EndpointRecord;
  const dockerLists = new Map<string, string[]>();
  /** Docker's GET /networks/{id}, as far as the peer lists go. */
  const docker = { network: async (id: string) => (dockerLists.has(id) ? { Id: id, Peers: dockerLists.get(id)!.map((IP) => ({ Name: IP, IP })) } : undefined) };
  let clock: FakeClock;
  const make = () =>
    new VxlanDataPath({
      log,
      instance: INSTANCE,
      gatewayFilter: filter,
      peerIntervalMs: 0, // the test calls refreshPeers() itself
      peerGraceMs: GRACE_MS,
      peerLists: new DockerNetworkPeers({ docker, log, intervalMs: 0 }),
      clock: (clock = fakeClock()),
    });
  const dev = () => vxlanName(net.id);

  before(async function () {
    requireThrowawayNetns(this);
    lab = await startLab();
    filter = new EbtablesGatewayFilter({ instance: INSTANCE, logger: log });
    dp = make();
    // A Swarm network: no -o peers, no -o underlay, the VNI from the manager's allocation.
    net = network(newId(), { peers: [], underlay: undefined });
    await dp.discoverNew({ address: A_UNDERLAY, bindAddress: A_UNDERLAY, self: true });
    net.datapath = await dp.createNetwork(net);
    epA = endpoint(net, '10.77.0.2/24', '02:42:0a:4d:00:02');
    epA.datapath = await dp.createEndpoint(net, epA);
    moveIntoContainer((await dp.join(net, epA, '/var/run/docker/netns/test')).srcName, lab.cA, '10.77.0.2/24', '10.77.0.1');
  });

  after(async () => {
    dp?.stop();
    if (dp && net) await dp.deleteNetwork(net).catch(() => undefined);
    if (lab) stopLab(lab);
    await filter?.replaceAll([]).catch(() => undefined);
  });

  it("takes the node's data-path address from DiscoverNew Self as underlay (no default route, no -o underlay)", () => {
    const state = net.datapath as unknown as VxlanNetworkState;
    assert.deepEqual([state.local, state.underlay, state.mtu], [A_UNDERLAY, 'ul0', OVERLAY_MTU]);
    assert.deepEqual(floodDsts(dev()), []);
  });

  it('DiscoverNew of another node adds a flood entry; containers then reach each other', async () => {
    await dp.discoverNew({ address: B_UNDERLAY, bindAddress: '', self: false });
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY]);
    assert.equal(lab!.cA.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.130']), 0);
  });

  it('DiscoverDelete drops the node only after the grace period, and a DiscoverNew meanwhile cancels it', async () => {
    await dp.discoverDelete({ address: B_UNDERLAY, bindAddress: '', self: false });
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY], 'not on the event alone');
    await dp.discoverNew({ address: B_UNDERLAY, bindAddress: '', self: false });
    clock.tick(GRACE_MS * 2);
    await dp.idle();
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY], 'the re-join cancelled the removal');
    await dp.discoverDelete({ address: B_UNDERLAY, bindAddress: '', self: false });
    clock.tick(GRACE_MS - 1);
    await dp.idle();
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY], 'kept until the grace period is over');
    clock.tick(1);
    await dp.idle();
    assert.deepEqual(floodDsts(dev()), [], 'gone after the grace period');
  });

  /** Makes the kernel forget the container MACs it learned on the device (as ageing would). */
  const forgetLearned = () => {
    const entries = JSON.parse(run('bridge', ['-j', 'fdb', 'show', 'dev', dev()])) as FdbJson[];
    for (const e of entries) {
      if (e.dst && e.mac !== '00:00:00:00:00:00' && e.state !== 'permanent') run('bridge', ['fdb', 'del', e.mac, 'dev', dev(), 'dst', e.dst]);
    }
  };

  it("Docker's peer list of the network (read in the background) makes a node a flood peer, and unmakes it", async () => {
    forgetLearned();
    dockerLists.set(net.id, [B_UNDERLAY, A_UNDERLAY]);
    await dp.refreshPeers();
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY]);
    dockerLists.set(net.id, [A_UNDERLAY]);
    await dp.refreshPeers();
    assert.deepEqual(floodDsts(dev()), []);
  });

  it('self-healing: a VTEP that sends the network\'s traffic becomes a flood peer', async () => {
    // cB -> cA: host B floods the ARP request to host A, which learns cB's MAC behind B's VTEP.
    lab!.cA.exec(['ip', 'neigh', 'flush', 'all']);
    lab!.cB.exec(['ip', 'neigh', 'flush', 'all']);
    assert.equal(lab!.cB.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.2']), 0);
    assert.deepEqual(floodDsts(dev()), [], 'not yet: only the background task adds it');
    await dp.refreshPeers();
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY]);
  });

  it('after a restart, replayed stored peers keep their flood entries through reconcile; without them self-healing brings them back', async () => {
    dp.stop();
    // A new process that replays the driver's stored peers before reconciling.
    dp = make();
    await dp.discoverNew({ address: A_UNDERLAY, bindAddress: A_UNDERLAY, self: true });
    await dp.discoverNew({ address: B_UNDERLAY, bindAddress: '', self: false });
    await dp.reconcile([net], [epA]);
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY]);

    // A new process that knows nothing of B: reconcile keeps the device's entry (carried until
    // Docker's peer list is read); after the read, the kernel's learned entries (they outlive the
    // process) keep it.
    dp.stop();
    dp = make();
    await dp.reconcile([net], [epA]);
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY], 'carried through reconcile');
    await dp.refreshPeers();
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY], 'learned');

    // Carried only until Docker's list is read: neither listed by Docker nor learned, it goes then.
    forgetLearned();
    dp.stop();
    dp = make();
    await dp.reconcile([net], [epA]);
    assert.deepEqual(floodDsts(dev()), [B_UNDERLAY], 'carried through reconcile');
    await dp.refreshPeers();
    assert.deepEqual(floodDsts(dev()), [], 'dropped after Docker listed the network without it');
  });
});
