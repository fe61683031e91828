/** The underlay choice and the overlay MTU (src/datapath/vxlan/underlay.ts), from recorded host facts. */
import assert from 'node:assert/strict';
import { DataPathError } from '../../../../src/datapath/datapath';
import { chooseUnderlay, overlayMtu, vxlanOverhead, type UnderlayFacts } from '../../../../src/datapath/vxlan/underlay';

describe('vxlan: underlay and MTU', () => {
  const facts: UnderlayFacts = {
    links: [
      { index: 1, name: 'lo', mtu: 65536, up: true },
      { index: 2, name: 'eth0', mtu: 1500, up: true },
      { index: 3, name: 'eth1', mtu: 9000, up: true },
      { index: 4, name: 'eth2', mtu: 1500, up: true },
    ],
    addresses: [
      { linkIndex: 1, family: 4, ip: '127.0.0.1', prefixLen: 8, scope: 254 },
      { linkIndex: 2, family: 6, ip: 'fe80::1', prefixLen: 64, scope: 253 },
      { linkIndex: 2, family: 6, ip: '2001:db8::2', prefixLen: 64, scope: 0 },
      { linkIndex: 2, family: 4, ip: '192.0.2.2', prefixLen: 24, scope: 0 },
      { linkIndex: 3, family: 4, ip: '198.51.100.3', prefixLen: 24, scope: 0 },
    ],
    routes: [
      { family: 4, dst: '192.0.2.0/24', table: 254, oifIndex: 2 },
      { family: 4, dst: '0.0.0.0/0', table: 254, oifIndex: 2 },
      { family: 6, dst: '::/0', table: 254, oifIndex: 3 },
    ],
  };

  it("takes the default route's interface and its global address of that family", () => {
    assert.deepEqual(chooseUnderlay(undefined, facts), { local: '192.0.2.2', prefixLen: 24, family: 4, link: { index: 2, name: 'eth0', mtu: 1500 } });
  });

  it('takes an interface (IPv4 first) or one of the host addresses when given', () => {
    assert.deepEqual(chooseUnderlay('eth1', facts), { local: '198.51.100.3', prefixLen: 24, family: 4, link: { index: 3, name: 'eth1', mtu: 9000 } });
    assert.deepEqual(chooseUnderlay('2001:db8::2', facts), { local: '2001:db8::2', prefixLen: 64, family: 6, link: { index: 2, name: 'eth0', mtu: 1500 } });
    assert.deepEqual(chooseUnderlay('2001:0db8:0::2', facts).local, '2001:db8::2');
  });

  it("prefers a given fallback (the Swarm node's data-path address) over the default route", () => {
    assert.equal(chooseUnderlay(undefined, facts, '198.51.100.3').link.name, 'eth1');
    assert.equal(chooseUnderlay('eth0', facts, '198.51.100.3').link.name, 'eth0', 'the option wins');
  });

  it('explains what is missing', () => {
    const err = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => e instanceof DataPathError && re.test(e.message));
    err(() => chooseUnderlay('eth9', facts), /underlay interface eth9 does not exist/);
    err(() => chooseUnderlay('eth2', facts), /underlay interface eth2 has no global IPv4 or IPv6 address/);
    err(() => chooseUnderlay('203.0.113.9', facts), /203\.0\.113\.9 is not an address of this host/);
    err(() => chooseUnderlay(undefined, { ...facts, routes: [] }), /no default route .* -o underlay=IFACE\|ADDR/);
    err(() => chooseUnderlay(undefined, { ...facts, routes: [{ family: 4, dst: '0.0.0.0/0', table: 254, oifIndex: 4 }] }), /eth2 has no global IPv4 address/);
    err(() => chooseUnderlay(undefined, { ...facts, routes: facts.routes.filter((r) => r.family === 6) }), /eth1 has no global IPv6 address/);
    const v6only = { ...facts, routes: [{ family: 6 as const, dst: '::/0', table: 254, oifIndex: 2 }] };
    assert.deepEqual(chooseUnderlay(undefined, v6only), { local: '2001:db8::2', prefixLen: 64, family: 6, link: { index: 2, name: 'eth0', mtu: 1500 } });
  });

  it('with peers and no -o underlay: the interface of the route to the peers, not the default route (issue 14)', () => {
    // Two hosts without a default route: the peers' subnet decides (eth1), and its address there.
    const noDefault = { ...facts, routes: [{ family: 4 as const, dst: '198.51.100.0/24', table: 254, oifIndex: 3 }] };
    assert.deepEqual(chooseUnderlay(undefined, noDefault, undefined, ['198.51.100.7']), {
      local: '198.51.100.3',
      prefixLen: 24,
      family: 4,
      link: { index: 3, name: 'eth1', mtu: 9000 },
    });
    // With a default route too, the more specific route to the peers wins; this host's own address in
    // the list (every host is given the same peers) is not a peer to route to.
    const both = { ...facts, routes: [...facts.routes, { family: 4 as const, dst: '198.51.100.0/24', table: 254, oifIndex: 3 }] };
    assert.equal(chooseUnderlay(undefined, both, undefined, ['198.51.100.3', '198.51.100.7']).link.name, 'eth1');
    assert.equal(chooseUnderlay(undefined, both, undefined, ['203.0.113.5']).link.name, 'eth0', 'a peer behind the default route');
    assert.equal(chooseUnderlay('eth0', both, undefined, ['198.51.100.7']).link.name, 'eth0', 'the option wins');
    assert.equal(chooseUnderlay(undefined, both, '192.0.2.2', ['198.51.100.7']).link.name, 'eth0', "the Swarm node's address wins");
  });

  it('with peers: a peer without a route, or peers behind different interfaces, is a clear error', () => {
    const err = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => e instanceof DataPathError && re.test(e.message));
    const noDefault = { ...facts, routes: [{ family: 4 as const, dst: '198.51.100.0/24', table: 254, oifIndex: 3 }] };
    err(() => chooseUnderlay(undefined, noDefault, undefined, ['10.200.0.2']), /no route to peer\(s\) 10\.200\.0\.2 .*-o underlay=IFACE\|ADDR/);
    err(
      () => chooseUnderlay(undefined, { ...noDefault, routes: [...noDefault.routes, { family: 4, dst: '192.0.2.0/24', table: 254, oifIndex: 2 }] }, undefined, ['198.51.100.7', '192.0.2.9']),
      /different interfaces \(198\.51\.100\.7 via eth1, 192\.0\.2\.9 via eth0\)/,
    );
  });

  it('overlay MTU: underlay minus 50 (70 over IPv6), or the requested MTU when less', () => {
    assert.equal(vxlanOverhead(4), 50);
    assert.equal(vxlanOverhead(6), 70);
    assert.deepEqual(overlayMtu(1500, 4), { mtu: 1450, lowered: false });
    assert.deepEqual(overlayMtu(1500, 6), { mtu: 1430, lowered: false });
    assert.deepEqual(overlayMtu(9000, 4, 1400), { mtu: 1400, lowered: false });
    assert.deepEqual(overlayMtu(1400, 4, 1500), { mtu: 1350, lowered: true });
    assert.throws(() => overlayMtu(100, 4), /too small for VXLAN/);
  });
});
