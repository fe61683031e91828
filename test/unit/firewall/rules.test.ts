import assert from 'node:assert/strict';
import type { NetworkRecord } from '../../../src/model/records';
import { dnatRule } from '../../../src/firewall/ports';
import {
  MAX_CHAIN_NAME,
  Markers,
  baseRules,
  canonicalCidr,
  chainNames,
  hooks,
  networkRules,
  type Rule,
} from '../../../src/firewall/rules';
import { firewallNetworkOf } from '../../../src/datapath/shared/firewall-network';
import { bridgeOptions, ipamPool, networkRecord } from '../../lab';

const NET_ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

function network(over: Partial<NetworkRecord> = {}, bridge: Partial<{ enableIcc: boolean; enableIpMasquerade: boolean }> = {}): NetworkRecord {
  return networkRecord(bridgeOptions(bridge), { id: NET_ID, ipv4: [ipamPool('10.99.0.0/24', '10.99.0.1/24')], ...over });
}

const lines = (rules: Rule[]) => rules.map((r) => `${r.table} -A ${r.chain} ${r.spec}`);

describe('firewall rule text', () => {
  const names = chainNames('tsnet');
  const markers = new Markers('tsnet');

  it('names the default instance TSNET-* and other instances TSNET-<INSTANCE>-*', () => {
    assert.deepEqual(names, {
      fwd: 'TSNET-FWD',
      guard: 'TSNET-GUARD',
      guardIn: 'TSNET-GUARD-IN',
      mark: 'TSNET-MARK',
      postrouting: 'TSNET-POSTROUTING',
      dnat: 'TSNET-DNAT',
      vxlanIn: 'TSNET-VXLAN-IN',
      egress: 'TSNET-EGRESS',
    });
    assert.equal(chainNames('blue').postrouting, 'TSNET-BLUE-POSTROUTING');
    assert.equal(chainNames('TSNET').fwd, 'TSNET-FWD');
  });

  it('keeps every chain name within 28 characters and distinct for long instances', () => {
    const a = chainNames('a-very-long-instance-name-1');
    const b = chainNames('a-very-long-instance-name-2');
    for (const n of [...Object.values(a), ...Object.values(b)]) assert.ok(n.length <= MAX_CHAIN_NAME, n);
    assert.notEqual(a.fwd, b.fwd);
    assert.equal(chainNames('abcdefghij').postrouting, 'TSNET-ABCDEFGHIJ-POSTROUTING');
    assert.equal(chainNames('abcdefghij').postrouting.length, 28);
  });

  it('marks rules with instance and network/endpoint ID fragments', () => {
    assert.equal(markers.network(NET_ID), 'tsnet:tsnet:net:0123456789ab');
    assert.equal(markers.endpoint(NET_ID, 'fedcba9876543210'), 'tsnet:tsnet:net:0123456789ab:ep:fedcba987654');
    assert.ok(markers.ownedByNetwork('tsnet:tsnet:net:0123456789ab', NET_ID));
    assert.ok(markers.ownedByNetwork('tsnet:tsnet:net:0123456789ab:ep:fedcba987654', NET_ID));
    assert.ok(!markers.ownedByNetwork('tsnet:tsnet:net:0123456789abc', NET_ID));
    assert.ok(!markers.ownedByNetwork('tsnet:other:net:0123456789ab', NET_ID));
    assert.equal(markers.networkOf('tsnet:tsnet:net:0123456789ab:ep:fedcba987654'), '0123456789ab');
    assert.throws(() => new Markers('bad instance'));
  });

  const C = '-m comment --comment "tsnet:tsnet:net:0123456789ab"';

  it('generates the IPv4 rules of a default bridge network exactly: drop-only guard, ACCEPTs in TSNET-FWD', () => {
    assert.deepEqual(lines(networkRules(names, markers, 4, firewallNetworkOf(network(), 'tsbr0'))), [
      `mangle -A TSNET-GUARD ! -i tsbr0 -o tsbr0 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT ${C} -j DROP`,
      `mangle -A TSNET-GUARD -i tsbr0 ! -o tsbr0 -m conntrack ! --ctstate DNAT ${C} -j TSNET-MARK`,
      `filter -A TSNET-FWD -o tsbr0 -m conntrack --ctstate RELATED,ESTABLISHED ${C} -j ACCEPT`,
      `filter -A TSNET-FWD -o tsbr0 -m conntrack --ctstate DNAT ${C} -j ACCEPT`,
      `filter -A TSNET-FWD -i tsbr0 -o tsbr0 ${C} -j ACCEPT`,
      `filter -A TSNET-FWD -i tsbr0 ! -o tsbr0 ${C} -j ACCEPT`,
      `filter -A TSNET-FWD -o tsbr0 ${C} -j DROP`,
      `nat -A TSNET-POSTROUTING -s 10.99.0.0/24 ! -o tsbr0 ${C} -j MASQUERADE`,
      `nat -A TSNET-POSTROUTING -s 10.99.0.0/24 -o tsbr0 -m conntrack --ctstate DNAT ${C} -j MASQUERADE`,
    ]);
  });

  it('writes the filter and mangle rules in ip6tables too for a network without IPv6 pools (link-local), but no nat', () => {
    const v4 = networkRules(names, markers, 4, firewallNetworkOf(network(), 'tsbr0'));
    const v6 = networkRules(names, markers, 6, firewallNetworkOf(network(), 'tsbr0'));
    assert.deepEqual(lines(v6), lines(v4.filter((r) => r.table !== 'nat')));
  });

  it('drops intra-bridge traffic without icc (after published ports, reachable through a host address as via dockerd\'s proxy) and skips the masquerade when disabled', () => {
    const rules = lines(networkRules(names, markers, 4, firewallNetworkOf(network({}, { enableIcc: false, enableIpMasquerade: false }), 'tsbr0')));
    assert.equal(rules.filter((l) => l.startsWith('filter'))[2], `filter -A TSNET-FWD -i tsbr0 -o tsbr0 ${C} -j DROP`);
    assert.ok(!rules.some((l) => l.includes(`! -o tsbr0 ${C} -j MASQUERADE`)));
    assert.ok(rules.some((l) => l.includes(`--ctstate DNAT ${C} -j MASQUERADE`)), 'hairpin stays');
  });

  it('closes internal networks at the bridge boundary in the guard (both directions, and the host itself), both families', () => {
    const internal = firewallNetworkOf(network({ internal: true }), 'tsbr1');
    const v4 = [
      `mangle -A TSNET-GUARD -i tsbr1 ! -o tsbr1 ${C} -j DROP`,
      `mangle -A TSNET-GUARD ! -i tsbr1 -o tsbr1 ${C} -j DROP`,
      `mangle -A TSNET-GUARD-IN -i tsbr1 -m conntrack --ctstate RELATED,ESTABLISHED ${C} -j RETURN`,
      `mangle -A TSNET-GUARD-IN -i tsbr1 ${C} -j DROP`,
      `filter -A TSNET-FWD -i tsbr1 -o tsbr1 ${C} -j ACCEPT`,
      `filter -A TSNET-FWD -i tsbr1 ${C} -j DROP`,
      `filter -A TSNET-FWD -o tsbr1 ${C} -j DROP`,
    ];
    assert.deepEqual(lines(networkRules(names, markers, 4, internal)), v4);
    assert.deepEqual(lines(networkRules(names, markers, 6, internal)), [
      ...v4.slice(0, 3),
      `mangle -A TSNET-GUARD-IN -i tsbr1 -p ipv6-icmp -m icmp6 --icmpv6-type 135 ${C} -j RETURN`,
      `mangle -A TSNET-GUARD-IN -i tsbr1 -p ipv6-icmp -m icmp6 --icmpv6-type 136 ${C} -j RETURN`,
      ...v4.slice(3),
    ]);
  });

  it("drops the host's closed TCP ports (Swarm's 7947) arriving from the bridge in TSNET-GUARD-IN, first, both families; none by default", () => {
    const net = firewallNetworkOf(network(), 'tsbr0');
    const drop = `mangle -A TSNET-GUARD-IN -i tsbr0 -p tcp -m tcp --dport 7947 ${C} -j DROP`;
    for (const family of [4, 6] as const) {
      const plain = lines(networkRules(names, markers, family, net));
      assert.ok(!plain.some((l) => l.includes('TSNET-GUARD-IN')), 'no closed port, no input rule');
      assert.deepEqual(lines(networkRules(names, markers, family, net, [7947])), [drop, ...plain]);
    }
    assert.throws(() => networkRules(names, markers, 4, net, [0]), /port 0/);
    assert.throws(() => networkRules(names, markers, 4, net, [65536]), /port 65536/);
  });

  it('generates ip6tables nat rules for IPv6 pools with canonical addresses', () => {
    const net = network({ ipv6: [{ addressSpace: 'x', pool: 'FD00:0:0:1::/64', auxAddresses: {} }], enableIPv6: true });
    const v6 = lines(networkRules(names, markers, 6, firewallNetworkOf(net, 'tsbr0')));
    assert.ok(v6.includes(`nat -A TSNET-POSTROUTING -s fd00:0:0:1::/64 ! -o tsbr0 ${C} -j MASQUERADE`));
    assert.ok(!v6.some((l) => l.includes('10.99.0.0')));
    assert.equal(v6.length, 9);
  });

  it('normalises CIDRs the way iptables-save prints them', () => {
    assert.equal(canonicalCidr('10.1.2.3/16'), '10.1.0.0/16');
    assert.equal(canonicalCidr('2001:DB8:0:0:1::5/64'), '2001:db8::/64');
    assert.throws(() => canonicalCidr('10.0.0.0/33'));
  });

  it('refuses bridge names iptables would misread', () => {
    assert.throws(() => networkRules(names, markers, 4, firewallNetworkOf(network(), 'br+')), /not usable/);
    assert.throws(() => networkRules(names, markers, 4, firewallNetworkOf(network(), 'a-name-longer-than-15')), /not usable/);
  });

  it('generates the hooks and base rules exactly: no hook in DOCKER-USER, the FORWARD ACCEPTs after it', () => {
    assert.deepEqual(
      hooks(names, markers, 4).map((h) => `${h.table} ${h.chain} ${h.placement} ${h.spec}`),
      [
        'mangle FORWARD any -m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD',
        'mangle INPUT any -m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD-IN',
        'filter FORWARD after-docker-user -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD',
        'nat POSTROUTING any -m comment --comment "tsnet:tsnet:hook" -j TSNET-POSTROUTING',
        'nat PREROUTING any -m addrtype --dst-type LOCAL -m comment --comment "tsnet:tsnet:hook" -j TSNET-DNAT',
        'nat OUTPUT any ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "tsnet:tsnet:hook" -j TSNET-DNAT',
        'filter INPUT ahead -p udp -m comment --comment "tsnet:tsnet:hook" -j TSNET-VXLAN-IN',
      ],
    );
    assert.equal(hooks(names, markers, 6)[5]!.spec.split(' -m ')[0], '! -d ::1/128');
    assert.deepEqual(
      baseRules(names, markers, ['vmbr0', 'lan+']).map((b) => [b.table, b.chain, b.placement, ...b.specs]),
      [
        [
          'mangle',
          'TSNET-MARK',
          'any',
          '-o vmbr0 -m comment --comment "tsnet:tsnet:base" -j RETURN',
          '-o lan+ -m comment --comment "tsnet:tsnet:base" -j RETURN',
          '-m comment --comment "tsnet:tsnet:base" -j MARK --set-xmark 0x8000000/0x8000000',
        ],
      ],
    );
    assert.throws(() => baseRules(names, markers, ['+']), /not usable/);
    assert.throws(() => baseRules(names, markers, ['a b']), /not usable/);
  });

  it('generates DNAT rules per published mapping', () => {
    const m = 'tsnet:tsnet:net:0123456789ab:ep:fedcba987654';
    const b = { Proto: 6, IP: '10.99.0.2', Port: 80, HostIP: '0.0.0.0', HostPort: 8080, HostPortEnd: 8080 };
    assert.equal(
      dnatRule('TSNET-DNAT', m, 4, b).spec,
      `-p tcp -m tcp --dport 8080 -m comment --comment "${m}" -j DNAT --to-destination 10.99.0.2:80`,
    );
    assert.equal(
      dnatRule('TSNET-DNAT', m, 4, { ...b, Proto: 17, HostIP: '192.0.2.7' }).spec,
      `-d 192.0.2.7/32 -p udp -m udp --dport 8080 -m comment --comment "${m}" -j DNAT --to-destination 10.99.0.2:80`,
    );
    assert.equal(
      dnatRule('TSNET-DNAT', m, 6, { ...b, Proto: 132, IP: 'FD00::2', HostIP: '::' }).spec,
      `-p sctp -m sctp --dport 8080 -m comment --comment "${m}" -j DNAT --to-destination [fd00::2]:80`,
    );
  });
});
