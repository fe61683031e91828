import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import type { NetworkRecord } from '../../../src/model/records';
import { Firewall } from '../../../src/firewall/firewall';
import { PortPublisher } from '../../../src/firewall/ports';
import { execCommand } from '../../../src/firewall/runner';
import { netnsUnsafeReason, spawnNetnsHolder, bridgeOptions, ipamPool, networkRecord, resetIptables } from '../../lab';
import { firewallNetworkOf, portsNetworkOf } from '../../../src/datapath/shared/firewall-network';

/*
 * Root tier, private network namespace only (see firewall.test.ts): packets through the rules.
 *
 *   C1 10.88.1.2 ─┐                        ┌─ C3 10.88.2.2          D1 10.88.3.2 ─ br-dockerx (10.88.3.1,
 *   C2 10.88.1.3 ─┴─ tsA (10.88.1.1)  tsB (10.88.2.1)                                 "dockerd's", with
 *                         └──── this namespace (router) ────┘                          permissive ACCEPTs)
 *                                      │ upl 192.0.2.1
 *                                      O 192.0.2.2 (the outside; no route back to 10.88/16)
 *
 * Every "host" is a namespace held by a `unshare -n sleep` this test starts; servers and clients are
 * small node processes entered with nsenter. The FORWARD policy is DROP, as dockerd sets it. Later
 * tests add L1 10.88.4.2 on `lan5` (a bridge of another tool, made after tsnet started, with permissive
 * ACCEPTs) and a server on this namespace itself (port 7100: the host's own services).
 */

const run = (file: string, ...args: string[]) => execCommand(file, args);

const SERVER = `const net=require('net');net.createServer(s=>{s.on('error',()=>{});s.end(s.remoteAddress.replace(/^::ffff:/,'')+'\\n')}).listen(7000,'::',()=>console.log('ready'));`;
const CLIENT = `const net=require('net');const [h,p]=process.argv.slice(1);const s=net.connect({host:h,port:+p});let d='';s.setTimeout(1000,()=>process.exit(2));s.on('data',x=>d+=x);s.on('end',()=>{process.stdout.write(d);process.exit(0)});s.on('error',()=>process.exit(1));`;

const NET_A = 'aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111';
const NET_B = 'bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222';
const EP1 = '1111111111110000000000000000000000000000000000000000000000000000';

function network(id: string, pool: string, over: Partial<NetworkRecord> = {}, icc = true): NetworkRecord {
  return networkRecord(bridgeOptions({ enableIcc: icc }), { id, ipv4: [ipamPool(pool)], ...over });
}

class Fixture {
  readonly procs: ChildProcess[] = [];
  readonly links: string[] = [];
  readonly ns = new Map<string, number>();
  private ipForward = '0';

  async namespace(name: string): Promise<number> {
    const holder = await spawnNetnsHolder(`host ${name}`);
    this.procs.push(holder);
    this.ns.set(name, holder.pid!);
    await this.in(name, 'ip', 'link', 'set', 'lo', 'up');
    return holder.pid!;
  }

  in(name: string, cmd: string, ...args: string[]) {
    return run('nsenter', '-t', String(this.ns.get(name)), '-n', cmd, ...args);
  }

  async bridge(name: string, cidr: string): Promise<void> {
    await run('ip', 'link', 'add', name, 'type', 'bridge');
    this.links.push(name);
    await run('ip', 'addr', 'add', cidr, 'dev', name);
    await run('ip', 'link', 'set', name, 'up');
  }

  /** A namespace with eth0 = cidr, plugged into `bridge` (or, without a bridge, into this namespace directly). */
  async host(name: string, hostSide: string, cidr: string, gateway: string | undefined, bridge?: string): Promise<void> {
    const pid = await this.namespace(name);
    await run('ip', 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid));
    this.links.push(hostSide);
    if (bridge) await run('ip', 'link', 'set', hostSide, 'master', bridge);
    await run('ip', 'link', 'set', hostSide, 'up');
    await this.in(name, 'ip', 'addr', 'add', cidr, 'dev', 'eth0');
    await this.in(name, 'ip', 'link', 'set', 'eth0', 'up');
    if (gateway) await this.in(name, 'ip', 'route', 'add', 'default', 'via', gateway);
    await this.server(name);
  }

  private server(name: string): Promise<void> {
    const p = spawn('nsenter', ['-t', String(this.ns.get(name)), '-n', process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(p);
    return new Promise((resolve, reject) => {
      p.stdout!.once('data', () => resolve());
      p.once('exit', (code) => reject(new Error(`server in ${name} exited ${code}`)));
    });
  }

  /** Connects from a namespace (or from this one: undefined) and returns what the server saw as our address. */
  async connect(from: string | undefined, host: string, port: number): Promise<string | undefined> {
    if (from === undefined) {
      return new Promise((resolve) => {
        const s = net.connect({ host, port });
        let d = '';
        s.setTimeout(1000, () => {
          s.destroy();
          resolve(undefined);
        });
        s.on('data', (x) => (d += x));
        s.on('end', () => resolve(d.trim()));
        s.on('error', () => resolve(undefined));
      });
    }
    try {
      const { stdout } = await this.in(from, process.execPath, '-e', CLIENT, host, String(port));
      return stdout.trim();
    } catch {
      return undefined;
    }
  }

  async setUp(): Promise<void> {
    this.ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    await run('ip', 'link', 'set', 'lo', 'up');
    await this.bridge('tsA', '10.88.1.1/24');
    await this.bridge('tsB', '10.88.2.1/24');
    await this.bridge('br-dockerx', '10.88.3.1/24');
    await this.host('C1', 'vC1', '10.88.1.2/24', '10.88.1.1', 'tsA');
    await this.host('C2', 'vC2', '10.88.1.3/24', '10.88.1.1', 'tsA');
    await this.host('C3', 'vC3', '10.88.2.2/24', '10.88.2.1', 'tsB');
    await this.host('D1', 'vD1', '10.88.3.2/24', '10.88.3.1', 'br-dockerx');
    await this.host('O', 'upl', '192.0.2.2/24', undefined);
    await run('ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'upl');
    // dockerd's own view of its bridge: everything in and out accepted, masquerade out.
    await run('iptables-nft', '-A', 'FORWARD', '-i', 'br-dockerx', '-j', 'ACCEPT');
    await run('iptables-nft', '-A', 'FORWARD', '-o', 'br-dockerx', '-j', 'ACCEPT');
    await run('iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.88.3.0/24', '!', '-o', 'br-dockerx', '-j', 'MASQUERADE');
    await run('iptables-nft', '-P', 'FORWARD', 'DROP');
  }

  async tearDown(): Promise<void> {
    for (const p of this.procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
    for (const l of this.links.splice(0).reverse()) await run('ip', 'link', 'del', l).catch(() => undefined);
    await resetIptables();
    writeFileSync('/proc/sys/net/ipv4/ip_forward', this.ipForward);
  }
}

describe('firewall data path (netns, packets through the rules)', function () {
  this.timeout(30_000);
  const fx = new Fixture();
  let fw: Firewall;
  let ready = false;
  let ports: PortPublisher;
  let bridgeFiltered = false;
  let uplinks: string[] = [];
  const A = network(NET_A, '10.88.1.0/24');
  const B = network(NET_B, '10.88.2.0/24');

  before(async function () {
    const reason = netnsUnsafeReason();
    if (reason) {
      console.warn(`  SKIPPED firewall data-path tests: ${reason}`);
      this.skip();
    }
    const nf = '/proc/sys/net/bridge/bridge-nf-call-iptables';
    bridgeFiltered = existsSync(nf) && readFileSync(nf, 'utf8').trim() === '1';
    ready = true;
    try {
      await fx.setUp();
      fw = new Firewall({ backend: 'nft', uplinkBridges: async () => uplinks });
      ports = new PortPublisher(fw);
      await fw.ensureBase();
    } catch (e) {
      ready = false;
      await fx.tearDown();
      throw e;
    }
  });
  after(async () => {
    if (!ready) return; // skipped: never touch a firewall we did not set up
    await ports.close();
    await fx.tearDown();
  });

  it('without tsnet rules the DROP policy stops forwarding, while dockerd’s bridge works', async () => {
    assert.equal(await fx.connect('C1', '192.0.2.2', 7000), undefined);
    assert.equal(await fx.connect('D1', '192.0.2.2', 7000), '192.0.2.1');
  });

  it('forwards out of a tsnet bridge with masquerade, and within it (icc)', async () => {
    await fw.addNetwork(firewallNetworkOf(A, 'tsA'));
    await fw.addNetwork(firewallNetworkOf(B, 'tsB'));
    assert.equal(await fx.connect('C1', '192.0.2.2', 7000), '192.0.2.1', 'masqueraded to the uplink address');
    assert.equal(await fx.connect('C3', '192.0.2.2', 7000), '192.0.2.1');
    assert.equal(await fx.connect('C1', '10.88.1.3', 7000), '10.88.1.2', 'same bridge, source kept');
  });

  it('isolates tsnet networks from each other and from dockerd’s bridges, both ways', async () => {
    assert.equal(await fx.connect('C1', '10.88.2.2', 7000), undefined, 'A → B');
    assert.equal(await fx.connect('C3', '10.88.1.2', 7000), undefined, 'B → A');
    assert.equal(await fx.connect('C1', '10.88.3.2', 7000), undefined, 'A → dockerd bridge (which ACCEPTs everything)');
    assert.equal(await fx.connect('D1', '10.88.1.2', 7000), undefined, 'dockerd bridge → A');
  });

  it('drops unsolicited traffic routed to container addresses', async () => {
    await fx.in('O', 'ip', 'route', 'add', '10.88.0.0/16', 'via', '192.0.2.1');
    try {
      assert.equal(await fx.connect('O', '10.88.1.2', 7000), undefined);
    } finally {
      await fx.in('O', 'ip', 'route', 'del', '10.88.0.0/16', 'via', '192.0.2.1');
    }
  });

  it('publishes a port: from outside, from the host (address and loopback), hairpin and from another network', async () => {
    const [mapping] = await ports.publishPorts(portsNetworkOf(A), EP1, '10.88.1.2/24', undefined, [
      { Proto: 6, IP: '', Port: 7000, HostIP: '', HostPort: 18080, HostPortEnd: 18080 },
    ]);
    assert.equal(mapping!.HostPort, 18080);
    assert.equal(await fx.connect('O', '192.0.2.1', 18080), '192.0.2.2', 'outside client address preserved');
    assert.equal(await fx.connect(undefined, '192.0.2.1', 18080), '192.0.2.1', 'host → own address (OUTPUT DNAT)');
    assert.equal(await fx.connect(undefined, '127.0.0.1', 18080), '10.88.1.1', 'host → loopback (userland proxy)');
    assert.equal(await fx.connect('C2', '10.88.1.1', 18080), '10.88.1.1', 'hairpin from the same bridge, masqueraded');
    assert.equal(await fx.connect('C3', '192.0.2.1', 18080), '10.88.1.1', 'other tsnet network through the published port');
    await ports.unpublishPorts(A, EP1);
    assert.equal(await fx.connect('O', '192.0.2.1', 18080), undefined, 'unpublished');
  });

  // The bridge data path must set hairpin mode on container ports (as dockerd does without its userland
  // proxy): the DNAT'd packet has to leave through the port it came in on.
  it('lets a container reach its own published port once its bridge port is in hairpin mode', async () => {
    await ports.publishPorts(portsNetworkOf(A), EP1, '10.88.1.2', undefined, [{ Proto: 6, IP: '', Port: 7000, HostIP: '', HostPort: 18082, HostPortEnd: 18082 }]);
    try {
      assert.equal(await fx.connect('C1', '10.88.1.1', 18082), undefined, 'hairpin off: the bridge will not reflect it');
      await run('ip', 'link', 'set', 'vC1', 'type', 'bridge_slave', 'hairpin', 'on');
      assert.equal(await fx.connect('C1', '10.88.1.1', 18082), '10.88.1.1', 'hairpin on: reaches itself, masqueraded');
    } finally {
      await run('ip', 'link', 'set', 'vC1', 'type', 'bridge_slave', 'hairpin', 'off');
      await ports.unpublishPorts(A, EP1);
    }
  });

  it('drops intra-bridge traffic with icc disabled but keeps published ports reachable (hairpin)', async function () {
    if (!bridgeFiltered) {
      console.warn('  SKIPPED icc check: bridge-nf-call-iptables is off in this kernel/namespace');
      this.skip();
    }
    const noIcc = network(NET_A, '10.88.1.0/24', {}, false);
    await fw.addNetwork(firewallNetworkOf(noIcc, 'tsA'));
    try {
      assert.equal(await fx.connect('C2', '10.88.1.2', 7000), undefined);
      await ports.publishPorts(portsNetworkOf(noIcc), EP1, '10.88.1.2', undefined, [{ Proto: 6, IP: '', Port: 7000, HostIP: '', HostPort: 18081, HostPortEnd: 18081 }]);
      assert.equal(await fx.connect('C2', '10.88.1.1', 18081), '10.88.1.1');
      await ports.unpublishPorts(noIcc, EP1);
    } finally {
      await fw.addNetwork(firewallNetworkOf(A, 'tsA'));
    }
  });

  it('keeps an internal network inside its bridge', async () => {
    const internal = network(NET_B, '10.88.2.0/24', { internal: true });
    await fw.addNetwork(firewallNetworkOf(internal, 'tsB'));
    try {
      assert.equal(await fx.connect('C3', '192.0.2.2', 7000), undefined, 'no way out');
      assert.equal(await fx.connect('C1', '10.88.2.2', 7000), undefined, 'no way in');
    } finally {
      await fw.addNetwork(firewallNetworkOf(B, 'tsB'));
    }
    assert.equal(await fx.connect('C3', '192.0.2.2', 7000), '192.0.2.1', 'back to normal');
  });

  it('reaches no bridge of another tool, whatever its name and however permissive its rules, until it is named an uplink', async () => {
    await fx.bridge('lan5', '10.88.4.1/24');
    await fx.host('L1', 'vL1', '10.88.4.2/24', '10.88.4.1', 'lan5');
    await run('iptables-nft', '-I', 'FORWARD', '-i', 'lan5', '-j', 'ACCEPT');
    await run('iptables-nft', '-I', 'FORWARD', '-o', 'lan5', '-j', 'ACCEPT');
    await run('iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.88.4.0/24', '!', '-o', 'lan5', '-j', 'MASQUERADE');
    assert.equal(await fx.connect('L1', '192.0.2.2', 7000), '192.0.2.1', 'lan5 itself works');
    assert.equal(await fx.connect('C1', '10.88.4.2', 7000), undefined, 'A → lan5 (made after tsnet started)');
    assert.equal(await fx.connect('L1', '10.88.1.2', 7000), undefined, 'lan5 → A');
    // The bridge family does the egress half: without its chain the packet gets through.
    await run('ebtables-nft', '-F', fw.names.egress);
    try {
      assert.equal(await fx.connect('C1', '10.88.4.2', 7000), '10.88.4.1', 'egress filter flushed: A reaches lan5 (masqueraded)');
    } finally {
      await fw.ensureBase();
    }
    assert.equal(await fx.connect('C1', '10.88.4.2', 7000), undefined, 'restored by the periodic check');
    uplinks = ['lan5'];
    await fw.ensureBase();
    try {
      assert.equal(await fx.connect('C1', '10.88.4.2', 7000), '10.88.4.1', 'an uplink bridge is reachable (masqueraded)');
      assert.equal(await fx.connect('C1', '10.88.3.2', 7000), undefined, 'dockerd bridge still not');
      assert.equal(await fx.connect('L1', '10.88.1.2', 7000), undefined, 'and nothing enters from it');
    } finally {
      uplinks = [];
      await fw.ensureBase();
    }
  });

  it("applies an admin's DOCKER-USER rules to egress, published ports and traffic inside one network", async function () {
    await run('iptables-nft', '-N', 'DOCKER-USER');
    await run('iptables-nft', '-A', 'DOCKER-USER', '-j', 'RETURN');
    await run('iptables-nft', '-I', 'FORWARD', '-j', 'DOCKER-USER');
    await fw.ensureBase(); // the hook moves below the jump
    await ports.publishPorts(portsNetworkOf(A), EP1, '10.88.1.2', undefined, [{ Proto: 6, IP: '', Port: 7000, HostIP: '', HostPort: 18083, HostPortEnd: 18083 }]);
    const admin = [
      ['-s', '10.88.1.0/24', '-d', '192.0.2.2', '-j', 'DROP'],
      ['-p', 'tcp', '-m', 'conntrack', '--ctorigdstport', '18083', '-s', '192.0.2.2', '-j', 'DROP'],
      ['-s', '10.88.1.3', '-d', '10.88.1.2', '-j', 'DROP'],
    ];
    try {
      assert.equal(await fx.connect('C1', '192.0.2.2', 7000), '192.0.2.1', 'before: egress');
      assert.equal(await fx.connect('O', '192.0.2.1', 18083), '192.0.2.2', 'before: published port');
      assert.equal(await fx.connect('C2', '10.88.1.2', 7000), '10.88.1.3', 'before: inside the network');
      for (const rule of admin) await run('iptables-nft', '-I', 'DOCKER-USER', ...rule);
      await fw.ensureBase();
      assert.equal(await fx.connect('C1', '192.0.2.2', 7000), undefined, 'egress dropped by the admin');
      assert.equal(await fx.connect('C3', '192.0.2.2', 7000), '192.0.2.1', 'other sources still leave');
      assert.equal(await fx.connect('O', '192.0.2.1', 18083), undefined, 'published port dropped for that source');
      if (bridgeFiltered) assert.equal(await fx.connect('C2', '10.88.1.2', 7000), undefined, 'inside the network dropped');
    } finally {
      for (const rule of admin) await run('iptables-nft', '-D', 'DOCKER-USER', ...rule).catch(() => undefined);
      await ports.unpublishPorts(A, EP1);
    }
  });

  it('keeps other bridges out even when their ACCEPT comes before tsnet in FORWARD (the mangle guard)', async () => {
    // dockerd 20.10 inserts a new network's `-i br ! -o br -j ACCEPT` above everything but its jumps.
    await run('iptables-nft', '-I', 'FORWARD', '-i', 'br-dockerx', '-j', 'ACCEPT');
    try {
      assert.equal(await fx.connect('D1', '10.88.1.2', 7000), undefined, 'dockerd bridge → A');
      await run('iptables-nft', '-t', 'mangle', '-F', fw.names.guard);
      assert.equal(await fx.connect('D1', '10.88.1.2', 7000), '10.88.1.1', 'without the guard the earlier ACCEPT lets it in (masqueraded by dockerd\'s rule)');
    } finally {
      await run('iptables-nft', '-D', 'FORWARD', '-i', 'br-dockerx', '-j', 'ACCEPT');
      await fw.addNetwork(firewallNetworkOf(A, 'tsA'));
      await fw.addNetwork(firewallNetworkOf(B, 'tsB'));
    }
    assert.equal(await fx.connect('D1', '10.88.1.2', 7000), undefined, 'guard back');
  });

  it('keeps an internal network from the host itself (gateway and other addresses), v4 and v6, while the host can still reach in', async () => {
    const hostServer = net.createServer((s) => s.end(`${s.remoteAddress}\n`));
    await new Promise<void>((resolve) => hostServer.listen(7100, '::', resolve));
    const internal = network(NET_B, '10.88.2.0/24', { internal: true });
    try {
      assert.equal(await fx.connect('C3', '10.88.2.1', 7100), '::ffff:10.88.2.2', 'before: the gateway address');
      await fw.addNetwork(firewallNetworkOf(internal, 'tsB'));
      assert.equal(await fx.connect('C3', '10.88.2.1', 7100), undefined, 'the gateway address');
      assert.equal(await fx.connect('C3', '192.0.2.1', 7100), undefined, 'another host address');
      const hostLinkLocal = (await run('ip', '-6', '-o', 'addr', 'show', 'dev', 'tsB', 'scope', 'link')).stdout.split(/\s+/)[3]?.split('/')[0];
      assert.ok(hostLinkLocal, 'tsB has a link-local address');
      assert.equal(await fx.connect('C3', `${hostLinkLocal}%eth0`, 7100), undefined, "the bridge's IPv6 link-local address");
      assert.equal(await fx.connect(undefined, '10.88.2.2', 7000), '10.88.2.1', 'host → container still works');
    } finally {
      hostServer.close();
      await fw.addNetwork(firewallNetworkOf(B, 'tsB'));
    }
  });

  it("keeps containers from the host's closed port (Swarm's 7947) on every host address, v4 and v6, while other ports and other sources still reach it", async () => {
    const answer = (s: net.Socket) => {
      s.on('error', () => undefined);
      s.end(`${s.remoteAddress}\n`);
    };
    const swarmPort = net.createServer(answer);
    const otherPort = net.createServer(answer);
    await new Promise<void>((resolve) => swarmPort.listen(7947, '::', resolve));
    await new Promise<void>((resolve) => otherPort.listen(7948, '::', resolve));
    // The same instance with the Swarm port closed (as main.ts makes it with TSNET_SCOPE=global).
    const closing = new Firewall({ backend: 'nft', uplinkBridges: async () => uplinks, closedHostPorts: [7947] });
    const hostLinkLocal = (await run('ip', '-6', '-o', 'addr', 'show', 'dev', 'tsA', 'scope', 'link')).stdout.split(/\s+/)[3]?.split('/')[0];
    assert.ok(hostLinkLocal, 'tsA has a link-local address');
    try {
      assert.equal(await fx.connect('C1', '192.0.2.1', 7947), '::ffff:10.88.1.2', 'before: the Swarm address');
      await closing.addNetwork(firewallNetworkOf(A, 'tsA'));
      for (const save of ['iptables-nft-save', 'ip6tables-nft-save']) {
        const dump = (await run(save, '-t', 'mangle')).stdout;
        assert.match(dump, /^-A TSNET-GUARD-IN -i tsA -p tcp -m tcp --dport 7947 -m comment --comment "tsnet:tsnet:net:aaaaaaaaaaaa" -j DROP$/m, save);
      }
      assert.equal(await fx.connect('C1', '192.0.2.1', 7947), undefined, 'the Swarm address');
      assert.equal(await fx.connect('C1', '10.88.1.1', 7947), undefined, 'the gateway address');
      assert.equal(await fx.connect('C1', `${hostLinkLocal}%eth0`, 7947), undefined, "the bridge's IPv6 link-local address");
      assert.equal(await fx.connect('C1', '192.0.2.1', 7948), '::ffff:10.88.1.2', 'another port of the host');
      assert.match((await fx.connect('C1', `${hostLinkLocal}%eth0`, 7948)) ?? '', /^fe80:/, 'another port over IPv6');
      assert.equal(await fx.connect('C3', '192.0.2.1', 7947), '::ffff:10.88.2.2', "a network of a Firewall without the closed port keeps its rules (each network's own)");
      assert.equal(await fx.connect('O', '192.0.2.1', 7947), '::ffff:192.0.2.2', 'another node on the underlay still reaches it');
      assert.equal(await fx.connect('C1', '192.0.2.2', 7000), '192.0.2.1', 'the container still goes out');
    } finally {
      swarmPort.close();
      otherPort.close();
      await fw.addNetwork(firewallNetworkOf(A, 'tsA'));
    }
    assert.doesNotMatch((await run('iptables-nft-save', '-t', 'mangle')).stdout, /--dport 7947/, 'the rule went with the setting');
  });

  it('drops IPv6 link-local between two containers of an icc=false network (no IPv6 pool needed)', async function () {
    const nf6 = '/proc/sys/net/bridge/bridge-nf-call-ip6tables';
    if (!existsSync(nf6)) this.skip();
    const linkLocal = async (ns: string) => (await fx.in(ns, 'ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link')).stdout.split(/\s+/)[3]!.split('/')[0]!;
    const c1 = await linkLocal('C1');
    assert.match(await fx.connect('C2', `${c1}%eth0`, 7000) ?? '', /^fe80:/, 'icc=true: link-local works');
    const noIcc = network(NET_A, '10.88.1.0/24', {}, false);
    await fw.addNetwork(firewallNetworkOf(noIcc, 'tsA'));
    try {
      assert.equal(await fx.connect('C2', `${c1}%eth0`, 7000), undefined, 'icc=false: link-local dropped');
      assert.equal(await fx.connect('C2', '10.88.1.2', 7000), undefined, 'and IPv4');
    } finally {
      await fw.addNetwork(firewallNetworkOf(A, 'tsA'));
    }
  });

  it('lets a second instance coexist: 10 alternating checks change nothing and both keep their isolation', async () => {
    const two = new Firewall({ backend: 'nft', instance: 'two' });
    await fx.bridge('tsT', '10.88.5.1/24');
    await fx.host('T1', 'vT1', '10.88.5.2/24', '10.88.5.1', 'tsT');
    await two.addNetwork(firewallNetworkOf(network('cccccccccccc3333333333333333333333333333333333333333333333333333', '10.88.5.0/24'), 'tsT'));
    try {
      const dump = async () => `${await run('iptables-nft-save').then((r) => r.stdout)}${await run('ip6tables-nft-save').then((r) => r.stdout)}`.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '');
      const first = await dump();
      for (let i = 0; i < 10; i++) {
        await fw.ensureBase();
        await two.ensureBase();
      }
      assert.equal(await dump(), first);
      assert.equal(await fx.connect('T1', '192.0.2.2', 7000), '192.0.2.1', 'the second instance forwards');
      assert.equal(await fx.connect('C1', '10.88.5.2', 7000), undefined, 'A → the other instance');
      assert.equal(await fx.connect('T1', '10.88.1.2', 7000), undefined, 'the other instance → A');
    } finally {
      await two.removeAll();
    }
    assert.equal(await fx.connect('C1', '192.0.2.2', 7000), '192.0.2.1', "the first instance's rules are untouched by the second's removal");
  });

  it('removing the network takes its forwarding away again', async () => {
    await fw.removeNetwork(firewallNetworkOf(A, 'tsA'));
    assert.equal(await fx.connect('C1', '192.0.2.2', 7000), undefined);
    assert.equal(await fx.connect('C3', '192.0.2.2', 7000), '192.0.2.1', 'the other network is untouched');
  });
});
