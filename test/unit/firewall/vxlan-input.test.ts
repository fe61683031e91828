import assert from 'node:assert/strict';
import { allowedSources } from '../../../src/datapath/vxlan/flood';
import { chainNames, Markers } from '../../../src/firewall/rules';
import { checkVxlanInputFilter, vniMatch, vxlanInputRules, type VxlanInputFilter } from '../../../src/firewall/vxlan-input';

const ID = 'abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789';

describe('vxlan input filter: rule text', () => {
  const names = chainNames('tsnet');
  const markers = new Markers('tsnet');
  const lines = (filter: VxlanInputFilter) => vxlanInputRules(names, markers, ID, filter).map((r) => `${r.table} -A ${r.chain} ${r.spec}`);

  it('IPv4: one ACCEPT per source for the VNI on the port, then DROP of that VNI, as iptables-save prints them', () => {
    assert.deepEqual(lines({ family: 4, vni: 4242, port: 4789, sources: ['10.211.0.0/24', '192.0.2.7'] }), [
      'filter -A TSNET-VXLAN-IN -s 10.211.0.0/24 -p udp -m udp --dport 4789 -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x1092" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j ACCEPT',
      'filter -A TSNET-VXLAN-IN -s 192.0.2.7/32 -p udp -m udp --dport 4789 -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x1092" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j ACCEPT',
      'filter -A TSNET-VXLAN-IN -p udp -m udp --dport 4789 -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x1092" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j DROP',
    ]);
  });

  it('IPv6: VNI at offset 52 (no extension headers), plus a DROP of packets to the port that carry extension headers', () => {
    assert.deepEqual(lines({ family: 6, vni: 16777215, port: 8472, sources: ['FD00:0:0::7', 'fd00:1::9/64'] }), [
      'filter -A TSNET-VXLAN-IN -s fd00::7/128 -p udp -m udp --dport 8472 -m u32 --u32 "0x34>>0x8=0xffffff" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j ACCEPT',
      'filter -A TSNET-VXLAN-IN -s fd00:1::/64 -p udp -m udp --dport 8472 -m u32 --u32 "0x34>>0x8=0xffffff" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j ACCEPT',
      'filter -A TSNET-VXLAN-IN -p udp -m udp --dport 8472 -m u32 --u32 "0x34>>0x8=0xffffff" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j DROP',
      'filter -A TSNET-VXLAN-IN -p udp -m udp --dport 8472 -m u32 ! --u32 "0x4>>0x8&0xff=0x11" -m comment --comment "tsnet:tsnet:net:abcdef012345:vxlan" -j DROP',
    ]);
  });

  it('canonicalises and deduplicates sources (host bits of a CIDR cleared, a bare address /32)', () => {
    const specs = vxlanInputRules(names, markers, ID, { family: 4, vni: 1, port: 4789, sources: ['10.0.0.9/24', '10.0.0.0/24', '10.0.0.9', '10.0.0.9/32'] }).map((r) =>
      r.spec.split(' ').slice(0, 2).join(' '),
    );
    assert.deepEqual(specs, ['-s 10.0.0.0/24', '-s 10.0.0.9/32', '-p udp']);
  });

  it('with no source, the VNI is only dropped', () => {
    const rules = vxlanInputRules(names, markers, ID, { family: 4, vni: 7, port: 4789, sources: [] });
    assert.equal(rules.length, 1);
    assert.match(rules[0]!.spec, /-j DROP$/);
  });

  it('uses the instance’s chain and marker', () => {
    const [rule] = vxlanInputRules(chainNames('blue'), new Markers('blue'), ID, { family: 4, vni: 7, port: 4789, sources: [] });
    assert.equal(rule!.chain, 'TSNET-BLUE-VXLAN-IN');
    assert.match(rule!.spec, /--comment "tsnet:blue:net:abcdef012345:vxlan"/);
    assert.ok(new Markers('blue').isVxlanInputMarker('tsnet:blue:net:abcdef012345:vxlan'));
    assert.ok(!new Markers('blue').isVxlanInputMarker('tsnet:tsnet:net:abcdef012345:vxlan'));
    assert.ok(new Markers('blue').ownedByNetwork('tsnet:blue:net:abcdef012345:vxlan', ID), 'removeNetwork takes it');
    assert.ok(!new Markers('blue').isEndpointMarker('tsnet:blue:net:abcdef012345:vxlan'), 'not a port mapping');
  });

  it('the VNI match is the u32 expression for each family', () => {
    assert.equal(vniMatch(4, 256), '-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x100"');
    assert.equal(vniMatch(6, 256), '-m u32 --u32 "0x34>>0x8=0x100"');
  });

  it('refuses what cannot be written as a rule, with the reason', () => {
    const ok: VxlanInputFilter = { family: 4, vni: 42, port: 4789, sources: [] };
    const bad: Array<[Partial<VxlanInputFilter>, RegExp]> = [
      [{ vni: -1 }, /VNI -1 is not an integer/],
      [{ vni: 16777216 }, /VNI 16777216/],
      [{ vni: 1.5 }, /VNI 1.5/],
      [{ port: 0 }, /port 0 is not an integer 1-65535/],
      [{ port: 65536 }, /port 65536/],
      [{ family: 5 as 4 }, /family 5/],
      [{ sources: ['fd00::1'] }, /source "fd00::1" is not IPv4/],
      [{ family: 6, sources: ['10.0.0.1'] }, /source "10.0.0.1" is not IPv6/],
      [{ sources: ['10.0.0.1 -j ACCEPT'] }, /not an IP address or CIDR/],
      [{ sources: ['10.0.0.1/33'] }, /not an IP address or CIDR/],
      [{ sources: ['10.0.0.1"; -A INPUT'] }, /not an IP address or CIDR/],
      [{ sources: ['host.example'] }, /not an IP address or CIDR/],
    ];
    for (const [change, reason] of bad) {
      const filter = { ...ok, ...change };
      assert.throws(() => checkVxlanInputFilter(filter), reason, JSON.stringify(change));
      assert.throws(() => vxlanInputRules(names, markers, ID, filter), reason);
    }
    assert.doesNotThrow(() => checkVxlanInputFilter(ok));
  });
});

describe('vxlan input filter: allowed sources', () => {
  it('is the learning scope first, then the peers outside it, sorted', () => {
    assert.deepEqual(allowedSources(['192.0.2.9', '10.211.0.2', '192.0.2.3'], ['10.211.0.0/24'], 4), ['10.211.0.0/24', '192.0.2.3', '192.0.2.9']);
  });

  it('keeps only the underlay’s family, canonical, without duplicates', () => {
    assert.deepEqual(allowedSources(['fd00::2', '192.0.2.3', '192.0.2.3'], ['10.211.0.7/24', 'fd00::/64', '10.211.0.0/24'], 4), ['10.211.0.0/24', '192.0.2.3']);
    assert.deepEqual(allowedSources(['FD01:0::2', '192.0.2.3'], ['10.211.0.0/24', 'fd00::/64'], 6), ['fd00::/64', 'fd01::2']);
  });

  it('with no scope of the family, only the peers', () => {
    assert.deepEqual(allowedSources(['10.0.0.2'], ['fd00::/64'], 4), ['10.0.0.2']);
    assert.deepEqual(allowedSources([], [], 4), []);
  });
});
