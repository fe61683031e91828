import assert from 'node:assert/strict';
import { runChecks, RESTART_FIX, type DoctorFacts, type Finding } from '../../../src/cli/doctor/checks';
import { parseIptablesSave, silenceOf } from '../../../src/cli/doctor/kernel';
import type { StatusView } from '../../../src/protocol';

const NET = 'a'.repeat(64);
const EP = 'e'.repeat(64);
const BR = 'ts-aaaaaaaaaa';
const VETH = 'tsveeeeeeeeeeee';

const STATUS: StatusView = {
  version: '0.1.0', instance: 'tsnet', scope: 'local', pid: 1, startedAt: '', uptimeSeconds: 1, socket: '/s', stateDir: '/var/lib/tsnet',
  store: { usedBytes: 1, fileBytes: 1, diskFreeBytes: 10 * 1024 ** 3 },
  counts: { networks: 1, endpoints: 1, pools: 0 },
  tasks: [],
  firewall: {
    backend: 'nft',
    chains: [{ table: 'filter', chain: 'TSNET-FWD' }, { table: 'mangle', chain: 'TSNET-GUARD' }],
    ebtablesChain: 'TSNET-EGRESS',
    hooks: [
      { table: 'filter', chain: 'FORWARD', spec: '-m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD', placement: 'after-docker-user' },
      { table: 'mangle', chain: 'FORWARD', spec: '-m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD', placement: 'any' },
    ],
    commentPrefix: 'tsnet:tsnet:',
  },
  linkMarkerPrefix: 'tsnet:tsnet:',
};

const SAVE = `*mangle
:FORWARD ACCEPT [0:0]
:TSNET-GUARD - [0:0]
-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-GUARD
COMMIT
*filter
:FORWARD DROP [0:0]
:DOCKER-USER - [0:0]
:TSNET-FWD - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -j RETURN
-A TSNET-FWD -i ${BR} -o ${BR} -m comment --comment "tsnet:tsnet:net:aaaaaaaaaaaa" -j ACCEPT
COMMIT
`;

function facts(over: Partial<DoctorFacts> = {}, save = SAVE): DoctorFacts {
  return {
    status: STATUS,
    networks: [{ id: NET, type: 'bridge', subnets: ['10.1.0.0/24'], gateways: [], internal: false, ipv6: false, bridge: BR, endpoints: 1, createdAt: '', linkMarker: `tsnet:tsnet:bridge:net:${NET}`, firewallMarker: 'tsnet:tsnet:net:aaaaaaaaaaaa' }],
    endpoints: [{ id: EP, networkId: NET, type: 'bridge', mac: '02:00:00:00:00:01', hostIfname: VETH, joined: true, publishedPorts: [], exposedPorts: [], createdAt: '', linkMarker: `tsnet:tsnet:bridge:ep:${EP}` }],
    peers: [],
    networkNames: new Map([[NET, 'n1']]),
    containerNames: new Map([[EP, 'web']]),
    engine: { version: '20.10.24', apiVersion: '1.41' },
    ipForward: '1',
    brNetfilter: '1',
    ruleset: parseIptablesSave(save),
    dockerBackends: ['nft'],
    links: [
      { name: BR, kind: 'bridge', alias: `tsnet:tsnet:bridge:net:${NET}`, mtu: 1500, up: true },
      { name: VETH, kind: 'veth', alias: `tsnet:tsnet:bridge:ep:${EP}`, mtu: 1500, up: true, master: BR },
    ],
    fdb: new Map(),
    localAddresses: ['10.0.0.1'],
    ebtables: '*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n:TSNET-EGRESS ACCEPT\n-A OUTPUT -j TSNET-EGRESS\n-A TSNET-EGRESS --mark 0x2000000/0x2000000 -j DROP\n',
    ...over,
  };
}

const notOk = (fs: Finding[]) => fs.filter((f) => f.level !== 'ok');

describe('tsnet doctor checks', () => {
  it('a healthy host: every check ok', () => {
    assert.deepEqual(notOk(runChecks(facts())), []);
  });

  it('a deleted bridge and a missing veth are failures naming them, with the restart as fix', () => {
    const f = notOk(runChecks(facts({ links: [] })));
    assert.deepEqual(f.map((x) => [x.check, x.level, x.message]), [
      ['links', 'fail', `bridge ${BR} of network n1 (aaaaaaaaaaaa) is missing`],
      ['links', 'fail', `veth ${VETH} of endpoint eeeeeeeeeeee (container web) is missing`],
    ]);
    assert.equal(f[0]!.fix, RESTART_FIX);
  });

  it('a flushed TSNET-FWD: the network has no rule there', () => {
    const f = notOk(runChecks(facts({}, SAVE.replace(/^-A TSNET-FWD .*\n/m, ''))));
    assert.equal(f.length, 1);
    assert.match(f[0]!.message, /network n1 \(aaaaaaaaaaaa\) has no rule in filter TSNET-FWD \(chain flushed\?\)/);
  });

  it('rules with the marker of a network the store does not hold are orphans', () => {
    const f = notOk(runChecks(facts({}, SAVE.replace('COMMIT\n*filter', '-A TSNET-GUARD -i ts-bbbbbbbbbb -m comment --comment "tsnet:tsnet:net:bbbbbbbbbbbb" -j DROP\nCOMMIT\n*filter'))));
    assert.deepEqual(f.map((x) => [x.check, x.level, x.message]), [['chains', 'warn', '1 rules carry the marker of network bbbbbbbbbbbb, which the store does not hold (orphans)']]);
  });

  it('tsnet\'s hook above -j DOCKER-USER, or missing', () => {
    const above = SAVE.replace('-A FORWARD -j DOCKER-USER\n-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD', '-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD\n-A FORWARD -j DOCKER-USER');
    assert.match(notOk(runChecks(facts({}, above)))[0]!.message, /comes before -j DOCKER-USER/);
    const missing = SAVE.replace('-A FORWARD -m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD\n', '');
    assert.match(notOk(runChecks(facts({}, missing)))[0]!.message, /missing in filter FORWARD/);
  });

  it('admin rules that cannot apply: after DOCKER-USER\'s RETURN, or in FORWARD after tsnet\'s hook naming its bridge', () => {
    const save = SAVE.replace('-A DOCKER-USER -j RETURN\n', `-A DOCKER-USER -j RETURN\n-A DOCKER-USER -s 10.9.9.9/32 -j DROP\n-A FORWARD -i ${BR} -p tcp -m tcp --dport 22 -j DROP\n`);
    const f = notOk(runChecks(facts({}, save)));
    assert.deepEqual(f.map((x) => [x.check, x.level]), [['admin rules', 'fail'], ['admin rules', 'fail']]);
    assert.match(f[0]!.message, /-A DOCKER-USER -s 10.9.9.9\/32 -j DROP" comes after the chain's unconditional -j RETURN/);
    assert.match(f[1]!.message, new RegExp(`names tsnet's bridge ${BR} but comes after tsnet's hook`));
  });

  it('ip_forward off, br_netfilter missing, FORWARD policy ACCEPT, backends apart', () => {
    const f = notOk(runChecks(facts({ ipForward: '0', brNetfilter: undefined, dockerBackends: ['legacy'] }, SAVE.replace(':FORWARD DROP', ':FORWARD ACCEPT'))));
    assert.deepEqual(f.map((x) => [x.check, x.level]), [['ip_forward', 'fail'], ['br_netfilter', 'fail'], ['forward policy', 'warn'], ['firewall backend', 'fail']]);
  });

  it('the egress filter: a missing ebtables chain or a flushed one fails', () => {
    const missing = notOk(runChecks(facts({ ebtables: '*filter\n:OUTPUT ACCEPT\n' })));
    assert.deepEqual(missing.map((x) => [x.check, x.level]), [['egress filter', 'fail']]);
    assert.match(missing[0]!.message, /ebtables chain TSNET-EGRESS missing/);
    const flushed = notOk(runChecks(facts({ ebtables: '*filter\n:OUTPUT ACCEPT\n:TSNET-EGRESS ACCEPT\n-A OUTPUT -j TSNET-EGRESS\n' })));
    assert.match(flushed[0]!.message, /has no DROP rule/);
  });

  it('an orphan link with tsnet\'s marker is a warning', () => {
    const base = facts();
    const f = notOk(runChecks(facts({ links: [...base.links, { name: 'tsvdeadbeef0000', kind: 'veth', alias: `tsnet:tsnet:bridge:ep:${'d'.repeat(64)}`, mtu: 1500, up: false }] })));
    assert.deepEqual(f.map((x) => [x.check, x.level]), [['links', 'warn']]);
    assert.match(f[0]!.message, /tsvdeadbeef0000 carries tsnet's marker .* \(an orphan\)/);
  });

  it('VXLAN: MTU above the underlay\'s, a stale flood entry, a missing one, a silent peer', () => {
    const vx = 'tsx0000000aaaa';
    const base = facts();
    const f = notOk(
      runChecks(
        facts({
          networks: [{ ...base.networks[0]!, type: 'vxlan', vxlanDevice: vx, underlay: 'eth0', localAddress: '10.0.0.1', vxlanPort: 4789 }],
          links: [...base.links, { name: vx, kind: 'vxlan', alias: `tsnet:tsnet:bridge:net:${NET}`, mtu: 1500, up: true }, { name: 'eth0', mtu: 1500, up: true }],
          peers: [
            { networkId: NET, address: '10.0.0.2', sources: ['static'], dataAddress: '10.0.0.2' },
            { networkId: NET, address: '10.0.0.3', sources: ['static'], dataAddress: '10.0.0.3' },
          ],
          fdb: new Map([[vx, [
            { mac: '00:00:00:00:00:00', dst: '10.0.0.2', permanent: true, updated: 5 },
            { mac: '00:00:00:00:00:00', dst: '192.0.2.99', permanent: true, updated: 5 },
            { mac: '02:42:0a:01:00:05', dst: '10.0.0.2', permanent: false, updated: 900 },
          ]]]),
        }),
      ),
    );
    assert.deepEqual(f.map((x) => [x.check, x.level]), [['mtu', 'fail'], ['fdb', 'warn'], ['fdb', 'fail'], ['peers', 'warn'], ['peers', 'warn']]);
    assert.match(f[1]!.message, /stale flood entry on tsx0000000aaaa to 192.0.2.99/);
    assert.equal(f[1]!.fix, 'bridge fdb del 00:00:00:00:00:00 dev tsx0000000aaaa dst 192.0.2.99');
    assert.match(f[3]!.message, /peer 10.0.0.2 silent for 900s/);
    assert.match(f[4]!.message, /peer 10.0.0.3 \(static\) never heard from/);
  });

  it('state directory: fail below 16 MiB free, warn below 64 MiB', () => {
    const at = (free: number) => notOk(runChecks(facts({ status: { ...STATUS, store: { usedBytes: 1, fileBytes: 1, diskFreeBytes: free } } })));
    assert.deepEqual(at(8 * 1024 * 1024).map((x) => [x.check, x.level, x.message]), [['state dir', 'fail', '8 MiB free for /var/lib/tsnet: new networks and endpoints are refused below a few MiB']]);
    assert.deepEqual(at(32 * 1024 * 1024).map((x) => x.level), ['warn']);
  });

  it('iptables-save parsing and the freshest learned entry', () => {
    const rs = parseIptablesSave(SAVE);
    assert.equal(rs.policies.get('filter/FORWARD'), 'DROP');
    assert.ok(rs.chains.has('mangle/TSNET-GUARD'));
    assert.equal(rs.rules.find((r) => r.chain === 'TSNET-FWD')?.comment, 'tsnet:tsnet:net:aaaaaaaaaaaa');
    assert.equal(silenceOf([{ mac: '02:00:00:00:00:01', dst: '1.1.1.1', permanent: false, updated: 30 }, { mac: '02:00:00:00:00:02', dst: '1.1.1.1', permanent: false, updated: 4 }], '1.1.1.1'), 4);
    assert.equal(silenceOf([], '1.1.1.1'), undefined);
  });
});
