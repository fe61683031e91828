// Real-Docker tier for the daemon and IPAM: a private dockerd (own netns, mount ns, data root) talks to
// tsnet over /run/docker/plugins/tsnet.sock; networks are created with tsnet's IPAM and with Docker's.
import assert from 'node:assert/strict';
import { createCIDR } from 'ip6addr';
import { NFTABLES_WARNING } from '../../src/docker/firewall-backend-check';
import { dk, dkFails, eventuallyDefined, hostIpJson, runSleeper, tsnetAllocations, withTsnetHost } from '../lab';

describe('docker: tsnet as a socket plugin (driver + IPAM)', function () {
  const { host } = withTsnetHost('proto');

  afterEach(async () => {
    const h = host();
    await h.docker(['rm', '-f', 'c1', 'c2', 'c3'], { allowFail: true });
    for (const n of ['n1', 'n2', 'n3']) await h.docker(['network', 'rm', n], { allowFail: true });
  });

  it('creates a network with tsnet IPAM: inspect shows the pool and gateway, the bridge carries the gateway', async () => {
    const h = host();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.99.0.0/24', '--gateway', '10.99.0.1', 'n1');
    const [info] = JSON.parse(await dk(h, 'network', 'inspect', 'n1'));
    assert.equal(info.Driver, 'tsnet');
    assert.equal(info.IPAM.Driver, 'tsnet');
    assert.deepEqual(info.IPAM.Config, [{ Subnet: '10.99.0.0/24', Gateway: '10.99.0.1' }]);
    const bridge = `ts-${id.slice(0, 10)}`;
    const addrs = await hostIpJson(h, 'addr', 'show', 'dev', bridge);
    assert.deepEqual(addrs[0].addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`), ['10.99.0.1/24']);
    assert.ok(tsnetAllocations(h).includes('10.99.0.1'), 'gateway held by tsnet IPAM');
  });

  it('containers get addresses from tsnet IPAM, exactly one interface, and reach each other and the gateway', async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.99.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n1', '--ip', '10.99.0.50');
    const ip1 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.n1.IPAddress}}', 'c1');
    const ip2 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.n1.IPAddress}}', 'c2');
    assert.equal(ip2, '10.99.0.50');
    const held = tsnetAllocations(h);
    assert.ok(held.includes(ip1) && held.includes(ip2), `tsnet holds ${ip1} and ${ip2}: ${held.join(',')}`);
    const links = (await dk(h, 'exec', 'c1', 'ls', '/sys/class/net')).split(/\s+/).sort();
    assert.deepEqual(links, ['eth0', 'lo'], 'no docker_gwbridge interface');
    await dk(h, 'exec', 'c1', 'ping', '-c', '1', '-W', '2', ip2);
    await dk(h, 'exec', 'c2', 'ping', '-c', '1', '-W', '2', '10.99.0.1');
    await dk(h, 'exec', 'c2', 'ping', '-c', '1', '-W', '2', 'c1');
    await dk(h, 'rm', '-f', 'c1');
    assert.ok(!tsnetAllocations(h).includes(ip1), 'address released after rm');
  });

  it('tsnet IPAM refuses a subnet another network holds, and pools no network may use, with a clear error (issue 12)', async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.71.0.0/24', 'n1');
    const twice = await dkFails(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.71.0.0/24', 'n2');
    assert.match(twice, /Pool overlaps with other one on this address space: pool 10\.71\.0\.0\/24 is already in use/);
    const all = await dkFails(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '0.0.0.0/0', 'n2');
    assert.match(all, /pool 0\.0\.0\.0\/0 is too large: IPv4 pools must be \/8 or smaller/);
    const loopback = await dkFails(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '127.5.0.0/16', 'n2');
    assert.match(loopback, /overlaps the loopback range 127\.0\.0\.0\/8/);
    const networks = (await dk(h, 'network', 'ls', '--format', '{{.Name}}')).split('\n');
    assert.ok(!networks.includes('n2'), 'no network left behind by a refusal');
    assert.deepEqual(
      (await hostIpJson(h, 'route', 'show')).filter((r: any) => String(r.dst).startsWith('10.71.0.0')).length,
      1,
      'one kernel route for 10.71.0.0/24',
    );
  });

  it('a network without --subnet gets a pool that overlaps nothing on the host', async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', 'n2');
    const [info] = JSON.parse(await dk(h, 'network', 'inspect', 'n2'));
    const subnet: string = info.IPAM.Config[0].Subnet;
    const routes = (await hostIpJson(h, 'route', 'show')).filter((r: any) => r.dst !== 'default' && !String(r.dev).startsWith('ts-'));
    assert.ok(routes.some((r: any) => r.dev === 'docker0'), 'the host has docker0 to avoid');
    for (const r of routes) {
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
      const a = createCIDR(subnet);
      const b = createCIDR(dst);
      assert.ok(!a.contains(b.address().toString()) && !b.contains(a.address().toString()), `${subnet} overlaps host route ${dst}`);
    }
  });

  it('tsnet IPAM takes an unspecified base (--subnet 0.0.0.0/24, ::/96) as any free subnet of that size (issue 14)', async () => {
    const h = host();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--ipv6', '--subnet', '0.0.0.0/24', '--subnet', '::/96', 'n1');
    // Docker's inspect repeats the configuration as given (0.0.0.0/24); the subnet in use is the one
    // tsnet chose, on the bridge and in the container.
    const bridge = `ts-${id.slice(0, 10)}`;
    const onBridge = (await hostIpJson(h, 'addr', 'show', 'dev', bridge))[0].addr_info
      .filter((a: any) => a.scope === 'global')
      .map((a: any) => `${a.local}/${a.prefixlen}`)
      .sort();
    assert.equal(onBridge.length, 2, `bridge addresses: ${onBridge}`);
    const [gw4, gw6] = [onBridge.find((a: string) => !a.includes(':'))!, onBridge.find((a: string) => a.includes(':'))!];
    assert.match(gw4, /^\d+\.\d+\.\d+\.1\/24$/);
    assert.ok(!gw4.startsWith('0.'), gw4);
    assert.match(gw6, /^fd74:736e:6574:[0-9a-f:]*:1\/96$/);
    await runSleeper(h, 'c1', 'n1');
    const [ip4, len4, ip6, len6] = (
      await dk(h, 'inspect', '-f', '{{with .NetworkSettings.Networks.n1}}{{.IPAddress}} {{.IPPrefixLen}} {{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}}{{end}}', 'c1')
    ).split(' ');
    assert.deepEqual([len4, len6], ['24', '96']);
    assert.ok(createCIDR(gw4).contains(ip4!), `${ip4} in ${gw4}`);
    assert.ok(createCIDR(gw6).contains(ip6!), `${ip6} in ${gw6}`);
    assert.ok(tsnetAllocations(h).includes(ip4!), 'tsnet IPAM holds the address');
    await dk(h, 'exec', 'c1', 'ping', '-c', '1', '-W', '2', gw4.split('/')[0]!);
    // The explicit refusals stand: 0.0.0.0/0 is no request for "any size".
    const all = await dkFails(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '0.0.0.0/0', 'n2');
    assert.match(all, /pool 0\.0\.0\.0\/0 is too large/);
  });

  it("refuses --subnet 0.0.0.0/24 with Docker's default IPAM at CreateNetwork, naming the problem, and leaves nothing behind (issue 14; 28.5.2, 20.10)", async () => {
    const h = host();
    const before = (await hostIpJson(h, 'link', 'show')).map((l: any) => l.ifname).sort();
    // Docker's default IPAM passes the literal pool on: CreateNetwork IPv4Data [{Pool 0.0.0.0/24, Gateway 0.0.0.1/24}].
    const err = await dkFails(h, 'network', 'create', '-d', 'tsnet', '--subnet', '0.0.0.0/24', 'n1');
    assert.match(err, /NetworkDriver\.CreateNetwork: pool 0\.0\.0\.0\/24 overlaps the unspecified range \("this network"\) 0\.0\.0\.0\/8, which no network may use; .*use --ipam-driver tsnet, which takes it as any free \/24/);
    assert.ok(!(await dk(h, 'network', 'ls', '--format', '{{.Name}}')).split('\n').includes('n1'), 'no network left in Docker');
    assert.deepEqual((await hostIpJson(h, 'link', 'show')).map((l: any) => l.ifname).sort(), before, 'no link left');
    assert.deepEqual((await h.exec(['iptables-save'])).stdout.split('\n').filter((l) => l.includes('tsnet:tsnet:net:')), [], 'no rule left');
    // The same subnet size through tsnet's IPAM is "any free /24" and works.
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '0.0.0.0/24', 'n1');
  });

  it('accepts the endpoint options Docker 28 sends: sysctls (Docker applies them), ifname, gw-priority (issue 14)', async function () {
    const h = host();
    const major = Number((await dk(h, 'version', '-f', '{{.Server.Version}}')).split('.')[0]);
    if (major < 28) this.skip(); // the --network name=...,driver-opt=... and gw-priority forms are Docker 25+/28+
    const logFrom = h.tsnetLog().length;
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.93.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'name=n1,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.forwarding=1');
    assert.equal(await dk(h, 'exec', 'c1', 'cat', '/proc/sys/net/ipv4/conf/eth0/forwarding'), '1', 'Docker applied the sysctl');
    await runSleeper(h, 'c2', 'name=n1,driver-opt=com.docker.network.endpoint.ifname=foo0');
    const links = (await dk(h, 'exec', 'c2', 'ls', '/sys/class/net')).split(/\s+/).sort();
    assert.deepEqual(links, ['eth0', 'lo'], 'Docker names a network plugin\'s interface eth<n>');
    await runSleeper(h, 'c3', 'name=n1,gw-priority=5');
    await dk(h, 'exec', 'c3', 'ping', '-c', '1', '-W', '2', 'c1');
    const log = h.tsnetLog().slice(logFrom);
    assert.ok(!log.includes('"call failed"'), 'no call failed');
    assert.match(log, /endpoint option not applied.*com\.docker\.network\.endpoint\.ifname/);
  });

  it("reads dockerd's firewall backend in the background (GET /info) and, on iptables, does not warn (issue 14)", async () => {
    const h = host();
    const records = () =>
      h
        .tsnetLog()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const seen = await eventuallyDefined(() => records().find((r) => r.message === 'dockerd firewall backend'), { timeout: 20_000, what: 'the firewall backend read' });
    const version = await dk(h, 'version', '-f', '{{.Server.Version}}');
    assert.equal(seen.dockerVersion, version);
    // 20.10 reports no backend; 28.5.2 reports {"Driver":"iptables"} (API 1.50+).
    assert.equal(seen.firewallBackend, Number(version.split('.')[0]) >= 28 ? 'iptables' : '(not reported)', JSON.stringify(seen));
    assert.ok(!records().some((r) => r.message === NFTABLES_WARNING), 'no nftables warning');
  });

  it("works with Docker's default IPAM", async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.98.0.0/24', 'n3');
    const [info] = JSON.parse(await dk(h, 'network', 'inspect', 'n3'));
    assert.equal(info.IPAM.Driver, 'default');
    await runSleeper(h, 'c1', 'n3');
    await runSleeper(h, 'c2', 'n3');
    await dk(h, 'exec', 'c1', 'ping', '-c', '1', '-W', '2', 'c2');
    await dk(h, 'exec', 'c1', 'ping', '-c', '1', '-W', '2', '10.98.0.1');
  });

  it('refuses bad options with a clear error and leaves nothing behind', async () => {
    const h = host();
    const before = (await hostIpJson(h, 'link', 'show')).map((l: any) => l.ifname).sort();
    const err = await dkFails(h, 'network', 'create', '-d', 'tsnet', '-o', 'bogus=1', 'n1');
    assert.match(err, /unknown option bogus/);
    const err2 = await dkFails(h, 'network', 'create', '-d', 'tsnet', '-o', 'com.docker.network.driver.mtu=huge', 'n1');
    assert.match(err2, /com\.docker\.network\.driver\.mtu: "huge" is not a whole number/);
    const after = (await hostIpJson(h, 'link', 'show')).map((l: any) => l.ifname).sort();
    assert.deepEqual(after, before);
    assert.deepEqual(tsnetAllocations(h), []);
  });

  it('survives a tsnet restart: the network, its containers and its allocations stay', async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.97.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'n1');
    const ip1 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.n1.IPAddress}}', 'c1');
    await h.stopTsnet('SIGTERM');
    await h.startTsnet();
    await runSleeper(h, 'c2', 'n1');
    const ip2 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.n1.IPAddress}}', 'c2');
    assert.notEqual(ip2, ip1, 'no address handed out twice after a restart');
    await dk(h, 'exec', 'c2', 'ping', '-c', '1', '-W', '2', ip1);
    await h.stopTsnet('SIGKILL');
    await h.startTsnet();
    await runSleeper(h, 'c3', 'n1');
    const ip3 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.n1.IPAddress}}', 'c3');
    assert.ok(![ip1, ip2].includes(ip3), 'no address handed out twice after kill -9');
    await dk(h, 'exec', 'c3', 'ping', '-c', '1', '-W', '2', ip1);
  });

  it('docker network rm removes the bridge and releases the pool', async () => {
    const h = host();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.96.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await dk(h, 'rm', '-f', 'c1');
    await dk(h, 'network', 'rm', 'n1');
    const links = (await hostIpJson(h, 'link', 'show')).map((l: any) => l.ifname);
    assert.ok(!links.includes(`ts-${id.slice(0, 10)}`));
    assert.ok(!links.some((n: string) => n.startsWith('tsv') || n.startsWith('tsc')), `veths left: ${links}`);
    assert.deepEqual(tsnetAllocations(h), []);
  });
});
