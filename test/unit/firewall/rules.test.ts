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
      iso: 'TSNET-ISO',
      iso2: 'TSNET-ISO2',
      postrouting: 'TSNET-POSTROUTING',
      dnat: 'TSNET-DNAT',
      vxlanIn: 'TSNET-VXLAN-IN',
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

  it('generates the IPv4 rules of a default bridge network exactly', () => {
    assert.deepEqual(lines(networkRules(names, markers, 4, firewallNetworkOf(network(), 'tsbr0'))), [
      'filter -A TSNET-ISO -i tsbr0 ! -o tsbr0 -m conntrack ! --ctstate DNAT -m comment --comment "tsnet:tsnet:net:0123456789ab" -j TSNET-ISO2',
      'filter -A TSNET-ISO2 -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j DROP',
      'filter -A TSNET-FWD -o tsbr0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "tsnet:tsnet:net:0123456789ab" -j ACCEPT',
      'filter -A TSNET-FWD -o tsbr0 -m conntrack --ctstate DNAT -m comment --comment "tsnet:tsnet:net:0123456789ab" -j ACCEPT',
      'filter -A TSNET-FWD -i tsbr0 -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j ACCEPT',
      'filter -A TSNET-FWD -i tsbr0 ! -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j ACCEPT',
      'filter -A TSNET-FWD -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j DROP',
      'nat -A TSNET-POSTROUTING -s 10.99.0.0/24 ! -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j MASQUERADE',
      'nat -A TSNET-POSTROUTING -s 10.99.0.0/24 -o tsbr0 -m conntrack --ctstate DNAT -m comment --comment "tsnet:tsnet:net:0123456789ab" -j MASQUERADE',
    ]);
    assert.deepEqual(networkRules(names, markers, 6, firewallNetworkOf(network(), 'tsbr0')), [], 'no IPv6 pools → no ip6tables rules');
  });

  it('drops intra-bridge traffic without icc and skips the masquerade when disabled', () => {
    const rules = lines(networkRules(names, markers, 4, firewallNetworkOf(network({}, { enableIcc: false, enableIpMasquerade: false }), 'tsbr0')));
    assert.ok(rules.includes('filter -A TSNET-FWD -i tsbr0 -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j DROP'));
    assert.ok(!rules.some((l) => l.includes('! -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j MASQUERADE')));
    assert.ok(rules.some((l) => l.includes('--ctstate DNAT -m comment --comment "tsnet:tsnet:net:0123456789ab" -j MASQUERADE')), 'hairpin stays');
  });

  it('closes internal networks at the bridge boundary, before any other network can accept', () => {
    assert.deepEqual(lines(networkRules(names, markers, 4, firewallNetworkOf(network({ internal: true }), 'tsbr1'))), [
      'filter -A TSNET-ISO -i tsbr1 ! -o tsbr1 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j DROP',
      'filter -A TSNET-ISO ! -i tsbr1 -o tsbr1 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j DROP',
      'filter -A TSNET-ISO2 -o tsbr1 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j DROP',
      'filter -A TSNET-FWD -i tsbr1 -o tsbr1 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j ACCEPT',
    ]);
  });

  it('generates ip6tables rules for IPv6 pools with canonical addresses', () => {
    const net = network({ ipv6: [{ addressSpace: 'x', pool: 'FD00:0:0:1::/64', auxAddresses: {} }], enableIPv6: true });
    const v6 = lines(networkRules(names, markers, 6, firewallNetworkOf(net, 'tsbr0')));
    assert.ok(v6.includes('nat -A TSNET-POSTROUTING -s fd00:0:0:1::/64 ! -o tsbr0 -m comment --comment "tsnet:tsnet:net:0123456789ab" -j MASQUERADE'));
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

  it('generates the hooks and base rules exactly', () => {
    assert.deepEqual(
      hooks(names, markers, 4).map((h) => `${h.table} ${h.chain} ${h.placement} ${h.spec}`),
      [
        'filter FORWARD forward -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD',
        'filter DOCKER-USER first -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD',
        'nat POSTROUTING any -m comment --comment "tsnet:tsnet:hook" -j TSNET-POSTROUTING',
        'nat PREROUTING any -m addrtype --dst-type LOCAL -m comment --comment "tsnet:tsnet:hook" -j TSNET-DNAT',
        'nat OUTPUT any ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "tsnet:tsnet:hook" -j TSNET-DNAT',
        'filter INPUT first -p udp -m comment --comment "tsnet:tsnet:hook" -j TSNET-VXLAN-IN',
      ],
    );
    assert.equal(hooks(names, markers, 6)[4]!.spec.split(' -m ')[0], '! -d ::1/128');
    assert.deepEqual(
      baseRules(names, markers, ['docker0', 'br-+']).map((b) => [b.chain, b.placement, ...b.specs]),
      [
        ['TSNET-FWD', 'first', '-m comment --comment "tsnet:tsnet:base" -j TSNET-ISO'],
        [
          'TSNET-ISO2',
          'any',
          '-o docker0 -m comment --comment "tsnet:tsnet:base" -j DROP',
          '-o br-+ -m comment --comment "tsnet:tsnet:base" -j DROP',
        ],
      ],
    );
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
