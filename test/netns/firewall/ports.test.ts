import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { NetworkRecord } from '../../../src/model/records';
import { Firewall } from '../../../src/firewall/firewall';
import { PortPublisher } from '../../../src/firewall/ports';
import { execCommand } from '../../../src/firewall/runner';
import type { PortBinding } from '../../../src/protocol';
import { netnsUnsafeReason, resetIptables } from '../../lab';
import { firewallNetworkOf, portsNetworkOf } from '../../../src/datapath/shared/firewall-network';

/* Root tier, private network namespace only (see firewall.test.ts): port publishing. */

const run = (file: string, ...args: string[]) => execCommand(file, args);

const save4 = async () => (await run('iptables-nft-save', '-t', 'nat')).stdout;
const save6 = async () => (await run('ip6tables-nft-save', '-t', 'nat')).stdout;

const NET_ID = 'cccccccccccc3333333333333333333333333333333333333333333333333333';
const EP1 = '1111111111110000000000000000000000000000000000000000000000000000';
const EP2 = '2222222222220000000000000000000000000000000000000000000000000000';

function network(hostBindingIpv4 = '0.0.0.0'): NetworkRecord {
  return {
    id: NET_ID,
    type: 'bridge',
    options: { type: 'bridge', interfacePrefix: 'eth', enableIcc: true, enableIpMasquerade: true, hostBindingIpv4 },
    generic: {},
    ipv4: [{ addressSpace: 'tsnet-local', pool: '10.3.0.0/24', auxAddresses: {} }],
    ipv6: [{ addressSpace: 'tsnet-local', pool: 'fd00:3::/64', auxAddresses: {} }],
    internal: false,
    enableIPv6: true,
    createdAt: '2026-01-01T00:00:00Z',
    datapath: {},
  };
}

const tcp = (hostPort: number, port = 80, hostIP = '', hostPortEnd = hostPort): PortBinding => ({
  Proto: 6,
  IP: '',
  Port: port,
  HostIP: hostIP,
  HostPort: hostPort,
  HostPortEnd: hostPortEnd,
});

describe('firewall port publishing (netns)', function () {
  let fw: Firewall;
  let ports: PortPublisher;
  const extra: net.Server[] = [];

  before(async function () {
    const reason = netnsUnsafeReason();
    if (reason) {
      console.warn(`  SKIPPED firewall port tests: ${reason}`);
      this.skip();
    }
    await run('ip', 'link', 'set', 'lo', 'up');
  });
  beforeEach(async () => {
    if (netnsUnsafeReason()) return; // never touch a firewall outside a private namespace
    await resetIptables();
    fw = new Firewall({ backend: 'nft' });
    ports = new PortPublisher(fw);
  });
  afterEach(async () => {
    if (!ports) return; // skipped: never touch a firewall we did not set up
    await ports.close();
    for (const s of extra.splice(0)) await new Promise((r) => s.close(r));
    await resetIptables();
  });

  it('publishes a DNAT rule and holds the port; a second publish fails with "port is already allocated"', async () => {
    const result = await ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2/24', undefined, [tcp(18080)]);
    assert.deepEqual(result, [{ Proto: 6, IP: '10.3.0.2', Port: 80, HostIP: '0.0.0.0', HostPort: 18080, HostPortEnd: 18080 }]);
    const nat = await save4();
    assert.ok(
      nat.includes(
        '-A TSNET-DNAT -p tcp -m tcp --dport 18080 -m comment --comment "tsnet:tsnet:net:cccccccccccc:ep:111111111111" -j DNAT --to-destination 10.3.0.2:80',
      ),
      nat,
    );
    await assert.rejects(
      ports.publishPorts(portsNetworkOf(network()), EP2, '10.3.0.3', undefined, [tcp(18080)]),
      /Bind for 0\.0\.0\.0:18080\/tcp failed: port is already allocated/,
    );
    assert.ok(!(await save4()).includes(':ep:222222222222'), 'the failed endpoint left no rule');
    // A specific address on the same port conflicts with the wildcard too.
    await assert.rejects(ports.publishPorts(portsNetworkOf(network()), EP2, '10.3.0.3', undefined, [tcp(18080, 80, '127.0.0.1')]), /127\.0\.0\.1:18080\/tcp.*already allocated/);
  });

  it('refuses a port another process holds and frees its own on unpublish', async () => {
    const other = net.createServer();
    extra.push(other);
    await new Promise<void>((r) => other.listen(18081, '0.0.0.0', r));
    await assert.rejects(ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2', undefined, [tcp(18081)]), /0\.0\.0\.0:18081\/tcp failed: port is already allocated/);
    await ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2', undefined, [tcp(18082)]);
    await ports.unpublishPorts(network(), EP1);
    assert.ok(!(await save4()).includes(':ep:'), 'rules gone');
    const again = net.createServer();
    extra.push(again);
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(18082, '0.0.0.0', resolve);
    });
  });

  it('chooses a free port for HostPort 0 and the first free port of a range', async () => {
    const blocker = net.createServer();
    extra.push(blocker);
    await new Promise<void>((r) => blocker.listen(18090, '0.0.0.0', r));
    const [eph, ranged] = await ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2', undefined, [tcp(0, 80), tcp(18090, 81, '', 18095)]);
    assert.ok(eph!.HostPort > 1024 && eph!.HostPort === eph!.HostPortEnd);
    assert.equal(ranged!.HostPort, 18091);
    assert.equal(ranged!.HostPortEnd, 18091);
    const nat = await save4();
    assert.ok(nat.includes(`--dport ${eph!.HostPort} `));
    assert.ok(nat.includes('--dport 18091 -m comment --comment "tsnet:tsnet:net:cccccccccccc:ep:111111111111" -j DNAT --to-destination 10.3.0.2:81'));
    await assert.rejects(
      ports.publishPorts(portsNetworkOf(network()), EP2, '10.3.0.3', undefined, [tcp(18090, 80, '', 18091)]),
      /0\.0\.0\.0:18090-18091\/tcp failed: port is already allocated/,
    );
  });

  it('maps udp, sctp and IPv6, each with its own rule, and the result is a fixed point', async () => {
    const bindings: PortBinding[] = [
      { Proto: 17, IP: '', Port: 53, HostIP: '', HostPort: 18053, HostPortEnd: 18053 },
      { Proto: 132, IP: '', Port: 9, HostIP: '192.0.2.10', HostPort: 18009, HostPortEnd: 18009 },
      tcp(18443, 443),
    ];
    await run('ip', 'addr', 'add', '192.0.2.10/32', 'dev', 'lo');
    try {
      const result = await ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2', 'fd00:3::2', bindings);
      assert.deepEqual(
        result.map((b) => `${b.Proto} ${b.HostIP} ${b.HostPort} → ${b.IP} ${b.Port}`),
        ['17 0.0.0.0 18053 → 10.3.0.2 53', '17 :: 18053 → fd00:3::2 53', '132 192.0.2.10 18009 → 10.3.0.2 9', '6 0.0.0.0 18443 → 10.3.0.2 443', '6 :: 18443 → fd00:3::2 443'],
      );
      const v4 = await save4();
      const v6 = await save6();
      assert.ok(v4.includes('-p udp -m udp --dport 18053 -m comment'));
      assert.ok(v4.includes('-A TSNET-DNAT -d 192.0.2.10/32 -p sctp -m sctp --dport 18009'));
      assert.ok(v6.includes('-p tcp -m tcp --dport 18443 -m comment --comment "tsnet:tsnet:net:cccccccccccc:ep:111111111111" -j DNAT --to-destination [fd00:3::2]:443'));
      // SCTP is held in tsnet's registry.
      await assert.rejects(
        ports.publishPorts(portsNetworkOf(network()), EP2, '10.3.0.3', undefined, [{ Proto: 132, IP: '', Port: 9, HostIP: '', HostPort: 18009, HostPortEnd: 18009 }]),
        /0\.0\.0\.0:18009\/sctp failed: port is already allocated/,
      );
      await assert.rejects(
        ports.publishPorts(portsNetworkOf(network()), EP2, '10.3.0.3', 'fd00:3::3', [{ Proto: 17, IP: '', Port: 53, HostIP: '::', HostPort: 18053, HostPortEnd: 18053 }]),
        /\[::\]:18053\/udp failed: port is already allocated/,
      );
      // Publishing the result again (what a restart does) maps the same ports, with the same rules.
      const before4 = await save4();
      const before6 = await save6();
      await ports.close();
      ports = new PortPublisher(fw);
      const again = await ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2', 'fd00:3::2', result);
      assert.deepEqual(again, result);
      assert.deepEqual(rulesOf(await save4()), rulesOf(before4));
      assert.deepEqual(rulesOf(await save6()), rulesOf(before6));
    } finally {
      await run('ip', 'addr', 'del', '192.0.2.10/32', 'dev', 'lo').catch(() => undefined);
    }
  });

  it('reconcile republishes listed endpoints and drops the rules of others; removeNetwork takes the rest', async () => {
    await ports.publishPorts(portsNetworkOf(network()), EP1, '10.3.0.2', undefined, [tcp(18100)]);
    await ports.publishPorts(portsNetworkOf(network()), EP2, '10.3.0.3', undefined, [tcp(18101)]);
    // A restart: a fresh publisher knows nothing; the rules are still in the kernel.
    await ports.close();
    ports = new PortPublisher(fw);
    const results = await ports.reconcile([{ net: portsNetworkOf(network()), endpointId: EP1, containerIPv4: '10.3.0.2', bindings: [tcp(18100)] }]);
    assert.equal(results[0]!.bindings![0]!.HostPort, 18100);
    const nat = await save4();
    assert.ok(nat.includes(':ep:111111111111'));
    assert.ok(!nat.includes(':ep:222222222222'), 'unlisted endpoint pruned');
    await fw.addNetwork(firewallNetworkOf(network(), 'tsbrC'));
    await fw.removeNetwork(firewallNetworkOf(network(), 'tsbrC'));
    assert.ok(!(await save4()).includes('tsnet:tsnet:net:cccccccccccc'));
  });

  it('serves loopback connections through the held socket (userland proxy)', async () => {
    // The "container" is a server on another loopback address of this namespace.
    await run('ip', 'addr', 'add', '127.0.0.53/8', 'dev', 'lo').catch(() => undefined);
    const backend = net.createServer((s) => s.end('hello from the container\n'));
    extra.push(backend);
    await new Promise<void>((r) => backend.listen(18200, '127.0.0.53', r));
    await ports.publishPorts(portsNetworkOf(network()), EP1, '127.0.0.53', undefined, [tcp(18201, 18200)]);
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(18201, '127.0.0.1');
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    assert.equal(reply, 'hello from the container\n');
  });
});

function rulesOf(dump: string): string[] {
  return dump.split('\n').filter((l) => l.startsWith('-A'));
}
