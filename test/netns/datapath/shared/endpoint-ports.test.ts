/**
 * BridgeDataPath's hairpin mode and published ports against the real kernel, in the private network
 * namespace of the whole mocha run (`unshare --net`; `before` skips loudly otherwise).
 *
 *  - hairpin: every endpoint's host veth is a bridge port in hairpin mode (read back with
 *    `bridge -j -d link show`), repaired by reconcile;
 *  - wiring: Program/Revoke/DeleteEndpoint/reconcile call the port publisher as they should (a
 *    recording publisher);
 *  - packets: the real Firewall + PortPublisher, a "container" namespace (held by `unshare -n sleep`)
 *    with a small TCP server that answers with the client's address: the published port is reached
 *    from the host (bridge address and loopback) and from the container itself through the host
 *    address (hairpin, no manual `bridge link set`), survives a restart with the same `-P` port, and is
 *    gone after Revoke.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { BridgeDataPath, type BridgePorts } from '../../../../src/datapath/bridge/bridge';
import { containerVethName, hostVethName } from '../../../../src/datapath/shared/names';
import type { EndpointRecord, NetworkRecord } from '../../../../src/model/records';
import { Firewall } from '../../../../src/firewall/firewall';
import { PortPublisher } from '../../../../src/firewall/ports';
import { execCommand } from '../../../../src/firewall/runner';
import * as nl from '../../../../src/netlink';
import type { PortBinding } from '../../../../src/protocol';
import { bridgeOptions, capturingLogger, endpointRecord, ipamPool, networkRecord, newId, requireThrowawayNetns, runSync, spawnNetnsHolder } from '../../../lab';
import type { PortsNetwork } from '../../../../src/firewall/network';

const INSTANCE = 'nsports';

function network(id = newId(), over: Partial<NetworkRecord> = {}): NetworkRecord {
  return networkRecord(bridgeOptions(), { id, ipv4: [ipamPool('10.77.0.0/24', '10.77.0.1/24')], ...over });
}

function endpoint(n: NetworkRecord, bindings: PortBinding[] = [], over: Partial<EndpointRecord> = {}): EndpointRecord {
  return endpointRecord(n, { address: '10.77.0.2/24', macAddress: '02:42:0a:4d:00:02', portBindings: bindings, ...over });
}

const tcp = (hostPort: number, port = 7000, hostIP = ''): PortBinding => ({ Proto: 6, IP: '', Port: port, HostIP: hostIP, HostPort: hostPort, HostPortEnd: hostPort });

/** `bridge -j -d link show dev X`: the bridge port's flags as iproute2 reads them. */
function bridgePort(dev: string): { hairpin?: boolean; master?: string } {
  const out = JSON.parse(runSync('bridge', ['-j', '-d', 'link', 'show', 'dev', dev]) || '[]') as Array<{ hairpin?: boolean; master?: string }>;
  assert.equal(out.length, 1, `bridge link show dev ${dev}: ${JSON.stringify(out)}`);
  return out[0]!;
}

class RecordingPorts implements BridgePorts {
  calls: string[] = [];
  reconciled: Array<{ endpointId: string; bindings: PortBinding[]; containerIPv4?: string }> = [];
  async publishPorts(_n: PortsNetwork, endpointId: string, v4: string | undefined, v6: string | undefined, bindings: PortBinding[]): Promise<PortBinding[]> {
    this.calls.push(`publish ${endpointId.slice(0, 6)} ${v4} ${v6} ${bindings.length}`);
    return bindings.map((b) => ({ ...b, IP: v4!.split('/')[0]!, HostIP: b.HostIP || '0.0.0.0', HostPort: b.HostPort || 40000, HostPortEnd: b.HostPort || 40000 }));
  }
  async unpublishPorts(_n: Pick<PortsNetwork, 'id'>, endpointId: string): Promise<void> {
    this.calls.push(`unpublish ${endpointId.slice(0, 6)}`);
  }
  async reconcile(entries: Parameters<BridgePorts['reconcile']>[0]) {
    this.reconciled = entries.map((e) => ({ endpointId: e.endpointId, bindings: e.bindings, containerIPv4: e.containerIPv4 }));
    return entries.map((e) => ({ endpointId: e.endpointId, bindings: e.bindings }));
  }
}

async function removeAllLinks(): Promise<void> {
  const links = (await nl.listLinks()).filter((l) => l.name !== 'lo');
  for (const link of links.filter((l) => l.kind === 'veth')) await nl.deleteLink(link.index);
  for (const link of links.filter((l) => l.kind !== 'veth')) await nl.deleteLink(link.index);
}

describe('bridge data path: hairpin and published ports (netns)', function () {
  this.timeout(30_000);
  let log: ReturnType<typeof capturingLogger>;

  before(async function () {
    requireThrowawayNetns(this);
    runSync('ip', ['link', 'set', 'lo', 'up']);
  });

  beforeEach(() => {
    log = capturingLogger();
  });

  afterEach(async () => {
    await removeAllLinks();
  });

  describe('hairpin mode', () => {
    it('is on for every endpoint port, as `bridge -d link show` reads it', async () => {
      const dp = new BridgeDataPath({ log: log.log, instance: INSTANCE });
      const n = network();
      n.datapath = await dp.createNetwork(n);
      const eps = [endpoint(n), endpoint(n, [], { address: '10.77.0.3/24', macAddress: '02:42:0a:4d:00:03' })];
      for (const ep of eps) ep.datapath = await dp.createEndpoint(n, ep);
      for (const ep of eps) {
        const port = bridgePort(hostVethName(ep.id));
        assert.equal(port.hairpin, true, `hairpin on ${hostVethName(ep.id)}`);
        assert.equal(port.master, n.datapath.bridgeName);
      }
      // The container end is no bridge port: it is Docker's to move.
      assert.deepEqual(JSON.parse(runSync('bridge', ['-j', 'link', 'show', 'dev', containerVethName(eps[0]!.id)]) || '[]'), []);
      // Our reader agrees with iproute2.
      const ports = await nl.listBridgePorts();
      assert.deepEqual(ports.filter((p) => eps.some((e) => hostVethName(e.id) === p.name)).map((p) => p.hairpin), [true, true]);
    });

    it('reconcile turns it back on when someone turned it off, and says so', async () => {
      const dp = new BridgeDataPath({ log: log.log, instance: INSTANCE });
      const n = network();
      n.datapath = await dp.createNetwork(n);
      const ep = endpoint(n);
      ep.datapath = await dp.createEndpoint(n, ep);
      runSync('bridge', ['link', 'set', 'dev', hostVethName(ep.id), 'hairpin', 'off']);
      assert.equal(bridgePort(hostVethName(ep.id)).hairpin, false);
      await dp.reconcile([n], [ep]);
      assert.equal(bridgePort(hostVethName(ep.id)).hairpin, true);
      const repair = log.records().find((r) => r.message === 'reconcile: repaired veth');
      assert.deepEqual(repair?.repairs, ['hairpin on']);
      // A second reconcile finds nothing to repair.
      const before = log.records().length;
      await dp.reconcile([n], [ep]);
      assert.equal(log.records().slice(before).filter((r) => String(r.message).startsWith('reconcile: repaired')).length, 0);
    });

    it('setting a port option on a link that is no bridge port fails with EOPNOTSUPP/ENOTSUP', async () => {
      await nl.createLink({ kind: 'veth', name: 'hpx0', peer: { name: 'hpx1' } });
      await assert.rejects(nl.setHairpin('hpx0'), (e: Error) => /set bridge port hpx0 hairpin on: E(OPNOTSUPP|NOTSUP)/.test(e.message));
    });
  });

  describe('port publisher wiring', () => {
    let ports: RecordingPorts;
    let dp: BridgeDataPath;
    let n: NetworkRecord;

    beforeEach(async () => {
      ports = new RecordingPorts();
      dp = new BridgeDataPath({ log: log.log, instance: INSTANCE, ports });
      n = network();
      n.datapath = await dp.createNetwork(n);
    });

    it('Program publishes the bindings with the container addresses and returns publishedPorts; logs each mapping', async () => {
      const ep = endpoint(n, [tcp(18080, 80), tcp(0, 81)], { sandboxKey: '/var/run/docker/netns/0123456789ab' });
      ep.datapath = await dp.createEndpoint(n, ep);
      const state = await dp.programExternalConnectivity(n, ep);
      assert.deepEqual(ports.calls, [`publish ${ep.id.slice(0, 6)} 10.77.0.2/24 undefined 2`]);
      assert.deepEqual(state, {
        publishedPorts: [
          { Proto: 6, IP: '10.77.0.2', Port: 80, HostIP: '0.0.0.0', HostPort: 18080, HostPortEnd: 18080 },
          { Proto: 6, IP: '10.77.0.2', Port: 81, HostIP: '0.0.0.0', HostPort: 40000, HostPortEnd: 40000 },
        ],
      });
      const logged = log.records().filter((r) => r.message === 'published port');
      assert.deepEqual(
        logged.map((r) => [r.endpointId, r.container, r.host, r.sandboxKey]),
        [
          [ep.id, '10.77.0.2:80/tcp', '0.0.0.0:18080/tcp', '/var/run/docker/netns/0123456789ab'],
          [ep.id, '10.77.0.2:81/tcp', '0.0.0.0:40000/tcp', '/var/run/docker/netns/0123456789ab'],
        ],
      );
    });

    it('an endpoint without ports, or on an internal network, never reaches the publisher', async () => {
      const plain = endpoint(n);
      plain.datapath = await dp.createEndpoint(n, plain);
      assert.deepEqual(await dp.programExternalConnectivity(n, plain), {});
      await dp.revokeExternalConnectivity(n, { ...plain, externalConnectivity: true });
      await dp.deleteEndpoint(n, plain);

      const internal = network(newId(), { internal: true, ipv4: [{ addressSpace: 'LocalDefault', pool: '10.78.0.0/24', gateway: '10.78.0.1/24', auxAddresses: {} }] });
      internal.datapath = await dp.createNetwork(internal);
      const ep = endpoint(internal, [tcp(18080)], { address: '10.78.0.2/24' });
      ep.datapath = await dp.createEndpoint(internal, ep);
      assert.deepEqual(await dp.programExternalConnectivity(internal, ep), {});
      assert.deepEqual(ports.calls, []);
    });

    it('Revoke unpublishes; DeleteEndpoint unpublishes what was not revoked, once', async () => {
      const a = endpoint(n, [tcp(18080)]);
      a.datapath = await dp.createEndpoint(n, a);
      a.datapath = { ...a.datapath, ...(await dp.programExternalConnectivity(n, a)) };
      await dp.revokeExternalConnectivity(n, { ...a, externalConnectivity: true });
      await dp.deleteEndpoint(n, a); // already revoked: no second firewall pass
      const b = endpoint(n, [tcp(18081)], { address: '10.77.0.3/24', macAddress: '02:42:0a:4d:00:03' });
      b.datapath = await dp.createEndpoint(n, b);
      b.datapath = { ...b.datapath, ...(await dp.programExternalConnectivity(n, b)) };
      await dp.deleteEndpoint(n, { ...b, externalConnectivity: true }); // no Revoke came
      await dp.deleteEndpoint(n, b); // repeated: idempotent, nothing left to do
      assert.deepEqual(ports.calls, [
        `publish ${a.id.slice(0, 6)} 10.77.0.2/24 undefined 1`,
        `unpublish ${a.id.slice(0, 6)}`,
        `publish ${b.id.slice(0, 6)} 10.77.0.3/24 undefined 1`,
        `unpublish ${b.id.slice(0, 6)}`,
      ]);
    });

    it('Program repeated on a programmed endpoint publishes its stored mappings, not the request again', async () => {
      const ep = endpoint(n, [tcp(0, 80)]);
      ep.datapath = await dp.createEndpoint(n, ep);
      const first = await dp.programExternalConnectivity(n, ep);
      const programmed = { ...ep, externalConnectivity: true, datapath: { ...ep.datapath, ...first } };
      assert.deepEqual(await dp.programExternalConnectivity(n, programmed), first);
      assert.deepEqual(ports.calls, [`publish ${ep.id.slice(0, 6)} 10.77.0.2/24 undefined 1`, `publish ${ep.id.slice(0, 6)} 10.77.0.2/24 undefined 1`]);
      assert.equal(log.records().filter((r) => r.message === 'ProgramExternalConnectivity repeated: published ports kept').length, 1);
    });

    it('reconcile republishes the stored mappings of endpoints with external connectivity only', async () => {
      const stored: PortBinding[] = [{ Proto: 17, IP: '10.77.0.2', Port: 53, HostIP: '0.0.0.0', HostPort: 41234, HostPortEnd: 41234 }];
      const withStored = endpoint(n, [{ Proto: 17, IP: '', Port: 53, HostIP: '', HostPort: 0, HostPortEnd: 0 }], {
        externalConnectivity: true,
        datapath: { publishedPorts: stored },
      });
      const legacy = endpoint(n, [tcp(18080)], { id: newId(), address: '10.77.0.3/24', macAddress: '02:42:0a:4d:00:03', externalConnectivity: true });
      const revoked = endpoint(n, [tcp(18081)], { address: '10.77.0.4/24', macAddress: '02:42:0a:4d:00:04', datapath: { publishedPorts: [] } });
      const noPorts = endpoint(n, [], { address: '10.77.0.5/24', macAddress: '02:42:0a:4d:00:05', externalConnectivity: true });
      const eps = [withStored, legacy, revoked, noPorts];
      for (const ep of eps) ep.datapath = { ...ep.datapath, ...(await dp.createEndpoint(n, ep)) };
      await dp.reconcile([n], eps);
      assert.deepEqual(ports.reconciled, [
        { endpointId: withStored.id, bindings: stored, containerIPv4: '10.77.0.2/24' },
        { endpointId: legacy.id, bindings: [tcp(18080)], containerIPv4: '10.77.0.3/24' },
      ]);
      assert.equal(log.records().filter((r) => r.message === 'published port restored').length, 2);
      // Republished endpoints count as published: DeleteEndpoint without Revoke unpublishes them.
      await dp.deleteEndpoint(n, withStored);
      assert.deepEqual(ports.calls, [`unpublish ${withStored.id.slice(0, 6)}`]);
    });
  });

  describe('packets (real firewall and port publisher)', () => {
    const run2 = (file: string, ...args: string[]) => execCommand(file, args);
    const procs: ChildProcess[] = [];
    let ipForward = '0';
    let firewall: Firewall;
    let publisher: PortPublisher;
    let holder = 0;

    const SERVER = `require('net').createServer(s=>{s.on('error',()=>{});s.end(s.remoteAddress.replace(/^::ffff:/,'')+'\\n')}).listen(7000,'0.0.0.0',()=>console.log('ready'));`;
    const CLIENT = `const s=require('net').connect({host:process.argv[1],port:+process.argv[2]});let d='';s.setTimeout(1500,()=>process.exit(2));s.on('data',x=>d+=x);s.on('end',()=>{process.stdout.write(d);process.exit(0)});s.on('error',()=>process.exit(1));`;

    /** From the container namespace (or from here: undefined): what the server saw as the client address. */
    async function connect(fromContainer: boolean, host: string, port: number): Promise<string | undefined> {
      if (!fromContainer) {
        return new Promise((resolve) => {
          const s = net.connect({ host, port });
          let d = '';
          s.setTimeout(1500, () => {
            s.destroy();
            resolve(undefined);
          });
          s.on('data', (x) => (d += x));
          s.on('end', () => resolve(d.trim()));
          s.on('error', () => resolve(undefined));
        });
      }
      try {
        const { stdout } = await run2('nsenter', '-t', String(holder), '-n', process.execPath, '-e', CLIENT, host, String(port));
        return stdout.trim();
      } catch {
        return undefined;
      }
    }

    async function flushIptables(): Promise<void> {
      for (const table of ['filter', 'nat']) {
        await run2('iptables-nft', '-t', table, '-F').catch(() => undefined);
        await run2('iptables-nft', '-t', table, '-X').catch(() => undefined);
      }
      await run2('iptables-nft', '-P', 'FORWARD', 'ACCEPT').catch(() => undefined);
    }

    before(async () => {
      ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
      writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
      await flushIptables();
      await run2('iptables-nft', '-P', 'FORWARD', 'DROP'); // as dockerd leaves it
    });

    after(async () => {
      await flushIptables();
      writeFileSync('/proc/sys/net/ipv4/ip_forward', ipForward);
    });

    beforeEach(async () => {
      firewall = new Firewall({ instance: INSTANCE, backend: 'nft', logger: log.log });
      publisher = new PortPublisher(firewall, { logger: log.log });
      const h = await spawnNetnsHolder('the client host');
      procs.push(h);
      holder = h.pid!;
    });

    afterEach(async () => {
      await publisher.close();
      for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
    });

    /** Network + endpoint with the container end in the holder namespace, a server on :7000 there. */
    async function container(dp: BridgeDataPath, bindings: PortBinding[]): Promise<{ n: NetworkRecord; ep: EndpointRecord }> {
      const n = network();
      n.datapath = await dp.createNetwork(n);
      const ep = endpoint(n, bindings);
      ep.datapath = await dp.createEndpoint(n, ep);
      const { srcName } = await dp.join(n, ep, '/nonexistent');
      const inNs = (...args: string[]) => run2('nsenter', '-t', String(holder), '-n', ...args);
      await run2('ip', 'link', 'set', srcName, 'netns', String(holder));
      await inNs('ip', 'link', 'set', 'lo', 'up');
      await inNs('ip', 'link', 'set', srcName, 'name', 'eth0');
      await inNs('ip', 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0');
      await inNs('ip', 'link', 'set', 'eth0', 'up');
      await inNs('ip', 'route', 'add', 'default', 'via', '10.77.0.1');
      const server = spawn('nsenter', ['-t', String(holder), '-n', process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      procs.push(server);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('server did not start')), 5000);
        server.stdout!.once('data', () => {
          clearTimeout(t);
          resolve();
        });
        server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
      });
      return { n, ep };
    }

    it('publishes: reached from the host address, loopback and the container itself (hairpin); restored on restart; gone after Revoke', async () => {
      const dp = new BridgeDataPath({ log: log.log, instance: INSTANCE, firewall, ports: publisher });
      const { n, ep } = await container(dp, [tcp(18090), tcp(0)]);
      const state = (await dp.programExternalConnectivity(n, ep)) as { publishedPorts: PortBinding[] };
      const chosen = state.publishedPorts.find((m) => m.Port === 7000 && m.HostPort !== 18090)!.HostPort;
      assert.ok(chosen > 0 && chosen !== 18090, `-P port ${chosen}`);
      ep.datapath = { ...ep.datapath, ...state };
      ep.externalConnectivity = true;

      assert.equal(await connect(false, '10.77.0.1', 18090), '10.77.0.1', 'host → its bridge address');
      assert.equal(await connect(false, '127.0.0.1', 18090), '10.77.0.1', 'host → loopback (held socket proxies)');
      assert.equal(await connect(true, '10.77.0.1', 18090), '10.77.0.1', 'container → own published port via the host (hairpin)');
      assert.equal(await connect(true, '10.77.0.1', chosen), '10.77.0.1', 'the -P port too');
      if (readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim() === '1') {
        // With br_netfilter (as on every Docker host) the DNAT'd packet is bridged back out of the port
        // it came in on: proof that the hairpin flag is what makes the line above work.
        runSync('bridge', ['link', 'set', 'dev', hostVethName(ep.id), 'hairpin', 'off']);
        assert.equal(await connect(true, '10.77.0.1', 18090), undefined, 'hairpin off: not reflected');
        runSync('bridge', ['link', 'set', 'dev', hostVethName(ep.id), 'hairpin', 'on']);
      }
      const busy = net.createServer();
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          busy.once('error', reject);
          busy.listen(18090, '0.0.0.0', () => resolve());
        }),
        /EADDRINUSE/,
        'the host port is held',
      );

      // "Restart": sockets close with the process, rules stay; a new publisher restores the same ports.
      await publisher.close();
      publisher = new PortPublisher(firewall, { logger: log.log });
      const dp2 = new BridgeDataPath({ log: log.log, instance: INSTANCE, firewall, ports: publisher });
      await dp2.reconcile([n], [ep]);
      assert.equal(await connect(false, '127.0.0.1', chosen), '10.77.0.1', 'the same -P port after restart (loopback needs the held socket)');
      assert.equal(await connect(true, '10.77.0.1', 18090), '10.77.0.1');

      await dp2.revokeExternalConnectivity(n, ep);
      assert.equal(await connect(false, '10.77.0.1', 18090), undefined, 'unpublished');
      assert.equal(await connect(false, '127.0.0.1', chosen), undefined, 'socket released');
      const nat = (await run2('iptables-nft-save', '-t', 'nat')).stdout;
      assert.doesNotMatch(nat, new RegExp(`:ep:${ep.id.slice(0, 12)}`), 'no DNAT rule of the endpoint left');
      // The port is free again for anyone.
      await new Promise<void>((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(18090, '0.0.0.0', () => s.close(() => resolve()));
      });
      await dp2.deleteEndpoint(n, { ...ep, externalConnectivity: false });
      await dp2.deleteNetwork(n);
    });

    it('Program repeated without a Revoke keeps the same ports, one DNAT rule each, also after a restart (issue 14)', async () => {
      const dp = new BridgeDataPath({ log: log.log, instance: INSTANCE, firewall, ports: publisher });
      const { n, ep } = await container(dp, [tcp(18093), tcp(0)]);
      const dnatRules = async () =>
        (await run2('iptables-nft-save', '-t', 'nat')).stdout.split('\n').filter((l) => l.startsWith('-A') && l.includes(`:ep:${ep.id.slice(0, 12)}`));
      const first = (await dp.programExternalConnectivity(n, ep)) as { publishedPorts: PortBinding[] };
      ep.datapath = { ...ep.datapath, ...first };
      ep.externalConnectivity = true;
      const rules = await dnatRules();
      assert.equal(rules.length, 2, rules.join('\n'));
      for (let i = 0; i < 2; i++) {
        const again = await dp.programExternalConnectivity(n, ep);
        assert.deepEqual(again, first, 'the same mappings, the -P port included');
        assert.deepEqual(await dnatRules(), rules, 'no second rule');
      }
      assert.equal(await connect(false, '10.77.0.1', 18093), '10.77.0.1');
      assert.equal(log.records().filter((r) => r.message === 'published port').length, 2, 'each mapping logged once');

      // After a restart the reconciled publication is the same one a repeated Program asks for.
      await publisher.close();
      publisher = new PortPublisher(firewall, { logger: log.log });
      const dp2 = new BridgeDataPath({ log: log.log, instance: INSTANCE, firewall, ports: publisher });
      await dp2.reconcile([n], [ep]);
      assert.deepEqual(await dp2.programExternalConnectivity(n, ep), first);
      assert.deepEqual(await dnatRules(), rules);
      const chosen = first.publishedPorts.find((m) => m.HostPort !== 18093)!.HostPort;
      assert.equal(await connect(false, '127.0.0.1', chosen), '10.77.0.1', 'the -P port is still held (loopback proxy)');

      await dp2.revokeExternalConnectivity(n, ep);
      assert.deepEqual(await dnatRules(), []);
      assert.equal(await connect(false, '127.0.0.1', chosen), undefined, 'socket released');
      await dp2.deleteEndpoint(n, { ...ep, externalConnectivity: false });
      await dp2.deleteNetwork(n);
    });

    it('a port held by a host service fails Program with "port is already allocated" and leaves nothing', async () => {
      const dp = new BridgeDataPath({ log: log.log, instance: INSTANCE, firewall, ports: publisher });
      const { n, ep } = await container(dp, [tcp(18091), tcp(18092)]);
      const busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(18092, '0.0.0.0', () => resolve()));
      try {
        await assert.rejects(dp.programExternalConnectivity(n, ep), /Bind for 0\.0\.0\.0:18092\/tcp failed: port is already allocated/);
        assert.equal(await connect(false, '127.0.0.1', 18091), undefined, 'the first binding was rolled back');
        const nat = (await run2('iptables-nft-save', '-t', 'nat')).stdout;
        assert.doesNotMatch(nat, new RegExp(`:ep:${ep.id.slice(0, 12)}`));
      } finally {
        await new Promise<void>((resolve) => busy.close(() => resolve()));
      }
      await dp.deleteEndpoint(n, ep);
      await dp.deleteNetwork(n);
    });
  });
});
