/**
 * Root tier: the VXLAN input filter with real packets. This process's namespace is host A (tsnet's
 * VXLAN data path with the real Firewall); B, P and S are other VTEPs in namespaces of their own, all
 * on one underlay bridge of A:
 *
 *   B  10.212.0.2  inside the learning scope (A's underlay subnet 10.212.0.0/24), not a configured peer
 *   P  10.213.0.3  a configured peer (-o peers) outside the scope
 *   S  10.214.0.2  a stranger: neither; also runs a VXLAN with another VNI (5000) on the same port,
 *                  as dockerd's overlay would, towards a non-tsnet VXLAN device of A
 *
 * Each remote VTEP has its overlay address on its VXLAN device and pings container cA on A's network.
 */
import assert from 'node:assert/strict';
import { EbtablesGatewayFilter } from '../../../src/firewall/gateway-filter';
import { VxlanDataPath, vxlanName } from '../../../src/datapath/vxlan/vxlan';
import type { EndpointRecord, NetworkRecord } from '../../../src/model/records';
import { Firewall } from '../../../src/firewall/firewall';
import { execCommand, type CommandRunner } from '../../../src/firewall/runner';
import { testLogger } from '../../../src/log';
import { ChildNs, eventually, resetIptables, requireThrowawayNetns, runSync as run } from '../../lab';
import { endpointRecord, ipamPool, networkRecord, newId, vxlanOptions } from '../../lab/records';
import { firewallNetworkOf } from '../../../src/datapath/shared/firewall-network';

const INSTANCE = 'vxin';
const CHAIN = 'TSNET-VXIN-VXLAN-IN';
const VNI = 4242;
const OTHER_VNI = 5000;
const A = { scope: '10.212.0.1', peers: '10.213.0.1', stranger: '10.214.0.1' };
const B_IP = '10.212.0.2';
const P_IP = '10.213.0.3';
const S_IP = '10.214.0.2';
const CA_IP = '10.90.0.2';

function network(id: string): NetworkRecord {
  return networkRecord(vxlanOptions({ vni: VNI, peers: [P_IP], underlay: A.scope }), { id, ipv4: [ipamPool('10.90.0.0/24', '10.90.0.1/24')] });
}

function endpoint(net: NetworkRecord): EndpointRecord {
  return endpointRecord(net, { address: `${CA_IP}/24`, macAddress: '02:42:0a:5a:00:02' });
}

/** The chain's rules as iptables-save prints them, with their [packets:bytes] counters. */
function chainRules(): Array<{ packets: number; line: string }> {
  return run('iptables-nft-save', ['-c', '-t', 'filter'])
    .split('\n')
    .map((l) => /^\[(\d+):\d+\] (-A .*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && (m[2]!.startsWith(`-A ${CHAIN} `) || m[2]!.startsWith('-A INPUT ')))
    .map((m) => ({ packets: Number(m[1]), line: m[2]! }));
}

function dropCount(): number {
  const drop = chainRules().find((r) => r.line.startsWith(`-A ${CHAIN} -p udp`) && r.line.endsWith('-j DROP'));
  assert.ok(drop, 'the DROP rule of the network is there');
  return drop.packets;
}

/** A remote VTEP with an overlay address on its VXLAN device, flooding to host A. */
function remoteVtep(ns: ChildNs, local: string, vni: number, overlay: string, dev = 'vx0'): void {
  ns.sh(
    [
      `ip link add ${dev} type vxlan id ${vni} dstport 4789 local ${local} dev eth0 learning`,
      `ip addr add ${overlay} dev ${dev}`,
      `ip link set ${dev} up`,
      `bridge fdb append 00:00:00:00:00:00 dev ${dev} dst ${A.scope}`,
    ].join('; '),
  );
}

describe('vxlan input filter (netns, packets)', function () {
  this.timeout(60000);
  const log = testLogger();
  const spaces: ChildNs[] = [];
  let b: ChildNs;
  let p: ChildNs;
  let s: ChildNs;
  let cA: ChildNs;
  let firewall: Firewall;
  let filter: EbtablesGatewayFilter;
  let dp: VxlanDataPath;
  let net: NetworkRecord;
  let ep: EndpointRecord;
  let iptablesRuns = 0;
  let restores = 0;

  before(async function () {
    requireThrowawayNetns(this);
    await resetIptables();
    for (const name of ['B', 'P', 'S', 'cA']) spaces.push(await ChildNs.start(name));
    [b, p, s, cA] = spaces as [ChildNs, ChildNs, ChildNs, ChildNs];
    for (const ns of spaces) ns.sh('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');

    // The underlay: bridge ulbr on A with one address per remote's subnet, a veth to each remote.
    run('ip', ['link', 'add', 'ulbr', 'type', 'bridge']);
    for (const ip of Object.values(A)) run('ip', ['addr', 'add', `${ip}/24`, 'dev', 'ulbr']);
    run('ip', ['link', 'set', 'ulbr', 'up']);
    const remotes: Array<[ChildNs, string, string, string]> = [
      [b, B_IP, A.scope, '10.90.0.12/24'],
      [p, P_IP, A.peers, '10.90.0.13/24'],
      [s, S_IP, A.stranger, '10.90.0.14/24'],
    ];
    for (const [ns, ip, gateway, overlay] of remotes) {
      const veth = `ul${ns.name}`;
      run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(ns.pid)]);
      run('ip', ['link', 'set', veth, 'master', 'ulbr', 'up']);
      ns.sh(`ip addr add ${ip}/24 dev eth0; ip link set eth0 up; ip route add default via ${gateway}`);
      remoteVtep(ns, ip, VNI, overlay);
    }
    // A VXLAN that is not tsnet's, same port, another VNI (dockerd's overlay uses 4096 and up).
    run('ip', ['link', 'add', 'vxother', 'type', 'vxlan', 'id', String(OTHER_VNI), 'dstport', '4789', 'local', A.scope, 'dev', 'ulbr']);
    run('ip', ['addr', 'add', '10.91.0.1/24', 'dev', 'vxother']);
    run('ip', ['link', 'set', 'vxother', 'up']);
    run('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxother', 'dst', S_IP]);
    remoteVtep(s, S_IP, OTHER_VNI, '10.91.0.2/24', 'vxo');

    const counting: CommandRunner = (file, args, input) => {
      iptablesRuns++;
      if (file.endsWith('-restore')) restores++;
      return execCommand(file, args, input);
    };
    firewall = new Firewall({ instance: INSTANCE, backend: 'nft', runner: counting, logger: log });
    filter = new EbtablesGatewayFilter({ instance: INSTANCE, logger: log });
    dp = new VxlanDataPath({ log, instance: INSTANCE, firewall, inputFirewall: firewall, gatewayFilter: filter, peerIntervalMs: 0, peerGraceMs: 60_000 });
    net = network(newId());
    net.datapath = await dp.createNetwork(net);
    ep = endpoint(net);
    ep.datapath = await dp.createEndpoint(net, ep);
    const { srcName } = await dp.join(net, ep, '/var/run/docker/netns/test');
    run('ip', ['link', 'set', srcName, 'netns', String(cA.pid)]);
    cA.sh(`ip link set ${srcName} name eth0; ip addr add ${CA_IP}/24 dev eth0; ip link set eth0 up`);
  });

  after(async () => {
    dp?.stop();
    if (dp && net) await dp.deleteNetwork(net).catch(() => undefined);
    await firewall?.removeAll().catch(() => undefined);
    await filter?.replaceAll([]).catch(() => undefined);
    for (const ns of spaces) ns.stop();
    for (const link of ['vxother', 'ulbr']) {
      try {
        run('ip', ['link', 'del', link]);
      } catch {
        // not made
      }
    }
    await resetIptables();
  });

  it('hooks the chain first in INPUT and admits the VNI from the learning scope and the peers only', () => {
    const m = `-m comment --comment "tsnet:${INSTANCE}:net:${net.id.slice(0, 12)}:vxlan"`;
    const vni = `-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x${VNI.toString(16)}"`;
    const lines = chainRules().map((r) => r.line);
    assert.equal(lines.filter((l) => l.startsWith('-A INPUT '))[0], `-A INPUT -p udp -m comment --comment "tsnet:${INSTANCE}:hook" -j ${CHAIN}`);
    assert.deepEqual(
      lines.filter((l) => l.startsWith(`-A ${CHAIN} `)),
      [
        `-A ${CHAIN} -s 10.212.0.0/24 -p udp -m udp --dport 4789 ${vni} ${m} -j ACCEPT`,
        `-A ${CHAIN} -s ${P_IP}/32 -p udp -m udp --dport 4789 ${vni} ${m} -j ACCEPT`,
        `-A ${CHAIN} -p udp -m udp --dport 4789 ${vni} ${m} -j DROP`,
      ],
    );
  });

  it('a VTEP inside the learning scope and a configured peer outside it reach the container', () => {
    const drops = dropCount();
    assert.ok(b.ping(CA_IP), 'B (in scope) -> cA');
    assert.ok(p.ping(CA_IP), 'P (configured peer) -> cA');
    assert.equal(dropCount(), drops, 'nothing of theirs was dropped');
  });

  it('a stranger outside peers and scope is dropped by the filter', () => {
    const drops = dropCount();
    assert.equal(s.ping(CA_IP), false, 'S -> cA must fail');
    assert.ok(dropCount() > drops, `the DROP rule counted S's packets (${drops} -> ${dropCount()})`);
    const fromS = run('bridge', ['fdb', 'show', 'dev', vxlanName(net.id)]).split('\n').filter((l) => l.includes(`dst ${S_IP}`));
    assert.deepEqual(fromS, [], 'the VXLAN device never saw S (it would have learned its MAC)');
    // S's kernel would go on asking ARP for cA for a few seconds: stop it (later counts and pings stay exact).
    s.sh('ip neigh flush dev vx0');
  });

  it('another VNI on the same port is not touched: the stranger’s other VXLAN works', () => {
    const drops = dropCount();
    assert.ok(s.ping('10.91.0.1'), 'S -> A over VNI 5000');
    assert.equal(dropCount(), drops);
  });

  it('a peer refresh that changes nothing runs no iptables at all', async () => {
    const before = iptablesRuns;
    await dp.refreshPeers(); // learns B (in scope: admitted already), reads nothing else
    await dp.refreshPeers();
    assert.equal(iptablesRuns, before);
  });

  it('a discovered node (DiscoverNew) is admitted at once, and then reaches the container', async () => {
    await dp.discoverNew({ address: S_IP, bindAddress: '', self: false });
    assert.ok(chainRules().some((r) => r.line.startsWith(`-A ${CHAIN} -s ${S_IP}/32 `) && r.line.endsWith('-j ACCEPT')));
    assert.ok(s.ping(CA_IP), 'S -> cA once it is a peer');
  });

  it('the periodic base check restores a flushed filter, and changes nothing while it is in place', async () => {
    const lines = () => chainRules().map((r) => r.line).filter((l) => l.startsWith(`-A ${CHAIN} `));
    const kept = lines();
    assert.equal(kept.length, 4, 'scope, P, S, DROP');
    await firewall.ensureBase(); // the first one also makes the IPv6 chains and hooks (no watch runs here)
    const before = restores;
    await firewall.ensureBase();
    assert.equal(restores, before, 'no restore while everything is in place');
    run('iptables-nft', ['-F', CHAIN]); // another tool flushes the chain: every sender would be admitted
    await firewall.ensureBase();
    assert.deepEqual(lines(), kept);
    assert.equal(s.ping(CA_IP), true, 'S (a discovered peer now) still reaches cA');
  });

  it('rebuild keeps the filter of a listed network, drops that of an unlisted one; deleteNetwork takes it away', async () => {
    const mine = () => chainRules().filter((r) => r.line.includes(`:net:${net.id.slice(0, 12)}:vxlan`)).map((r) => r.line);
    const kept = mine();
    assert.equal(kept.length, 4, 'scope, P, S, DROP');
    await firewall.rebuild([firewallNetworkOf(net, String(net.datapath.bridgeName))]);
    assert.deepEqual(mine(), kept);
    await firewall.rebuild([]);
    assert.deepEqual(mine(), []);
    await dp.reconcile([net], [ep]); // the data path's reconcile writes it again
    assert.deepEqual(mine(), kept);
    await dp.deleteNetwork(net);
    assert.deepEqual(mine(), []);
    assert.ok(chainRules().some((r) => r.line.startsWith('-A INPUT ')), 'the hook stays while tsnet runs');
    await firewall.removeAll();
    assert.deepEqual(chainRules(), [], 'removeAll: no chain, no hook');
  });
});

/**
 * A VXLAN packet (VNI, broadcast ARP inside) to [dst]:4789 from a UDP socket that adds an IPv6
 * Destination Options header (IPV6_DSTOPTS = 59): the VNI then sits 8 bytes later than at offset 52.
 */
const VXLAN_WITH_DSTOPTS = String.raw`
use strict; use Socket qw(:all);
my ($dst, $vni) = @ARGV;
socket(my $s, AF_INET6, SOCK_DGRAM, 0) or die "socket: $!";
setsockopt($s, 41, 59, pack('CCCCx4', 0, 0, 1, 4)) or die "setsockopt: $!";
my $frame = pack('H12H12n', 'ffffffffffff', '020000000099', 0x0806) . pack('nnCCn', 1, 0x0800, 6, 4, 1) . ("\0" x 20);
my $pkt = pack('NN', 0x08000000, $vni << 8) . $frame;
my (undef, $addr) = getaddrinfo($dst, 4789, { socktype => SOCK_DGRAM });
defined(send($s, $pkt, 0, $addr->{addr})) or die "send: $!";
`;

describe('vxlan input filter over an IPv6 underlay (netns, packets)', function () {
  this.timeout(60000);
  const log = testLogger();
  const spaces: ChildNs[] = [];
  let r: ChildNs;
  let s: ChildNs;
  let firewall: Firewall;
  const ID = 'c0ffee000000' + '0'.repeat(52);
  const VNI6 = 77;
  const CHAIN6 = 'TSNET-VXIN-VXLAN-IN';
  const counters = () =>
    run('ip6tables-nft-save', ['-c', '-t', 'filter'])
      .split('\n')
      .map((l) => /^\[(\d+):\d+\] (-A .*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && m[2]!.startsWith(`-A ${CHAIN6} `))
      .map((m) => ({ packets: Number(m[1]), line: m[2]! }));
  const countOf = (pattern: RegExp) => {
    const rule = counters().find((c) => pattern.test(c.line));
    assert.ok(rule, `a rule matching ${pattern}`);
    return rule.packets;
  };
  /** Whether A's vx6 learned the crafted frame's source MAC (it does for every frame it takes in). */
  const learnedCraftedSender = () => run('bridge', ['fdb', 'show', 'dev', 'vx6']).includes('02:00:00:00:00:99 dst fd00:214::2');
  const vniDrop = /^-A \S+ -p udp -m udp --dport 4789 -m u32 --u32 .* -j DROP$/;
  const extDrop = /^-A \S+ -p udp -m udp --dport 4789 -m u32 ! --u32 .* -j DROP$/;

  before(async function () {
    requireThrowawayNetns(this);
    await resetIptables();
    for (const name of ['R6', 'S6']) spaces.push(await ChildNs.start(name));
    [r, s] = spaces as [ChildNs, ChildNs];
    const legs: Array<[ChildNs, string, string]> = [
      [r, 'fd00:212::1', 'fd00:212::2'],
      [s, 'fd00:214::1', 'fd00:214::2'],
    ];
    for (const [ns, mine, theirs] of legs) {
      const veth = `u6${ns.name}`;
      run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(ns.pid)]);
      run('ip', ['addr', 'add', `${mine}/64`, 'dev', veth, 'nodad']);
      run('ip', ['link', 'set', veth, 'up']);
      ns.sh(`ip addr add ${theirs}/64 dev eth0 nodad; ip link set eth0 up; ip -6 route add default via ${mine}`);
    }
    // A's VXLAN (as tsnet's would be) floods to both; R's and S's flood to A.
    run('ip', ['link', 'add', 'vx6', 'type', 'vxlan', 'id', String(VNI6), 'dstport', '4789', 'local', 'fd00:212::1']);
    run('sysctl', ['-qw', 'net.ipv6.conf.vx6.disable_ipv6=1']); // the overlay carries IPv4 only: no ND/MLD noise
    run('ip', ['addr', 'add', '10.95.0.1/24', 'dev', 'vx6']);
    run('ip', ['link', 'set', 'vx6', 'up']);
    for (const dst of ['fd00:212::2', 'fd00:214::2']) run('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx6', 'dst', dst]);
    for (const [ns, local, overlay] of [
      [r, 'fd00:212::2', '10.95.0.2/24'],
      [s, 'fd00:214::2', '10.95.0.3/24'],
    ] as const) {
      ns.sh(
        [
          `ip link add vx6 type vxlan id ${VNI6} dstport 4789 local ${local}`,
          'sysctl -qw net.ipv6.conf.vx6.disable_ipv6=1',
          `ip addr add ${overlay} dev vx6`,
          'ip link set vx6 up',
          'bridge fdb append 00:00:00:00:00:00 dev vx6 dst fd00:212::1',
        ].join('; '),
      );
    }
    firewall = new Firewall({ instance: INSTANCE, backend: 'nft', logger: log });
    await firewall.setVxlanInput(ID, { family: 6, vni: VNI6, port: 4789, sources: ['fd00:212::/64'] });
  });

  after(async () => {
    await firewall?.removeAll().catch(() => undefined);
    for (const ns of spaces) ns.stop();
    for (const link of ['vx6', 'u6R6', 'u6S6']) {
      try {
        run('ip', ['link', 'del', link]);
      } catch {
        // not made, or gone with its namespace
      }
    }
    await resetIptables();
  });

  it('admits the VNI from the scope, drops it from a stranger', () => {
    assert.ok(r.ping('10.95.0.1'), 'R (in scope) -> A');
    const drops = countOf(vniDrop);
    assert.equal(s.ping('10.95.0.1'), false, 'S (stranger) -> A must fail');
    assert.ok(countOf(vniDrop) > drops, 'the DROP rule counted S');
    s.sh('ip neigh flush dev vx6');
  });

  it('drops a VXLAN packet whose extension header would move the VNI past the u32 match', async () => {
    const ext = countOf(extDrop);
    s.exec(['perl', '-e', VXLAN_WITH_DSTOPTS, 'fd00:212::1', String(VNI6)]);
    await eventually(() => assert.equal(countOf(extDrop), ext + 1, 'counted by the extension-header DROP'), { timeout: 2000, interval: 20 });
    assert.equal(learnedCraftedSender(), false, 'the VXLAN device never saw it (it would have learned the inner source MAC)');
  });

  it('a repeat changes nothing; a filter set in the other family leaves none in this one', async () => {
    const marker = `tsnet:${INSTANCE}:net:${ID.slice(0, 12)}:vxlan`;
    const v4 = () => run('iptables-nft-save', ['-t', 'filter']).split('\n').filter((l) => l.includes(marker));
    const before = counters().map((c) => c.line);
    await firewall.setVxlanInput(ID, { family: 6, vni: VNI6, port: 4789, sources: ['fd00:212::/64'] });
    assert.deepEqual(counters().map((c) => c.line), before);
    await firewall.setVxlanInput(ID, { family: 4, vni: VNI6, port: 4789, sources: ['10.0.0.0/8'] });
    assert.equal(v4().length, 2, 'IPv4: ACCEPT and DROP');
    assert.deepEqual(counters(), [], 'IPv6: none left');
    await firewall.setVxlanInput(ID, { family: 6, vni: VNI6, port: 4789, sources: ['fd00:212::/64'] });
    assert.deepEqual(v4(), []);
    assert.deepEqual(counters().map((c) => c.line), before);
    await assert.rejects(firewall.setVxlanInput(ID, { family: 6, vni: VNI6, port: 4789, sources: ['10.0.0.1'] }), /not IPv6/);
    assert.deepEqual(counters().map((c) => c.line), before, 'a refused filter changes nothing');
  });

  it('without that rule the same packet would reach the device (the test can fail)', async () => {
    // The filter without its extension-header rule: what a VNI match alone lets through.
    const line = counters().find((c) => extDrop.test(c.line))!.line;
    run('ip6tables-nft', ['-D', CHAIN6, ...splitRule(line.replace(/^-A \S+ /, ''))]);
    s.exec(['perl', '-e', VXLAN_WITH_DSTOPTS, 'fd00:212::1', String(VNI6)]);
    await eventually(() => assert.equal(learnedCraftedSender(), true, 'the VXLAN device took it and learned its inner source MAC'), { timeout: 2000, interval: 20 });
  });
});

/** A rule spec as iptables-save prints it, split into arguments (double quotes grouped). */
function splitRule(spec: string): string[] {
  return [...spec.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}
