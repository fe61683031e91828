// Real-Docker tier for the bridge data path, on a host where Docker's own firewall rules are in force
// (FORWARD policy DROP, br_netfilter): connectivity, options, isolation, NAT towards an "outside" host
// that lives in the underlay namespace, and a clean kernel after removal.
import assert from 'node:assert/strict';
import { dk, DockerHost, ensureBusyboxImage, IMAGE, requireDocker, runSleeper, TSNET_ENTRY, Underlay } from '../lab';

const OUTSIDE = '10.210.0.254';

describe('docker: bridge networks', function () {
  let underlay: Underlay | undefined;
  let h: DockerHost;
  let linksBefore: string[];
  let rulesBefore: string;

  before(async function () {
    await requireDocker(this);
    underlay = await Underlay.create('brsw');
    // The "outside world": an address on the underlay bridge, with no route back to any container subnet.
    await underlay.ip(['addr', 'add', `${OUTSIDE}/24`, 'dev', 'br0']);
    h = await DockerHost.start({ name: 'bridge', underlay: underlay.attach('10.210.0.1/24'), tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug' } } });
    await h.exec(['ip', 'route', 'add', 'default', 'via', OUTSIDE]);
    await ensureBusyboxImage(h, IMAGE);
    linksBefore = await linkNames();
    rulesBefore = await iptablesSave();
    await h.startTsnet();
  });

  after(async function () {
    if (h && this.currentTest?.state === 'failed') console.error(`--- tsnet log ---\n${h.tsnetLog().slice(-8000)}`);
    await h?.stop();
    await underlay?.destroy();
  });

  afterEach(async () => {
    const names = (await h.docker(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
    if (names.length) await h.docker(['rm', '-f', ...names], { allowFail: true });
    const nets = (await h.docker(['network', 'ls', '--filter', 'driver=tsnet', '-q'])).stdout.split(/\s+/).filter(Boolean);
    for (const n of nets) await h.docker(['network', 'rm', n], { allowFail: true });
  });

  async function linkNames(): Promise<string[]> {
    const out = JSON.parse((await h.exec(['ip', '-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
    return out.map((l) => l.ifname).sort();
  }
  async function iptablesSave(): Promise<string> {
    const v4 = (await h.exec(['iptables-save'])).stdout;
    const v6 = (await h.exec(['ip6tables-save'])).stdout;
    // Counters and comment-free lines of Docker's own chains are what we compare; drop counters.
    return (v4 + v6).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n');
  }
  const ping = (c: string, target: string, ...extra: string[]) => h.docker(['exec', c, 'ping', ...extra, '-c', '1', '-W', '2', target], { allowFail: true });
  const ipOf = (c: string, net: string) => dk(h, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c);

  it("Docker's FORWARD policy DROP is in force on this host", async () => {
    const save = (await h.exec(['iptables', '-S', 'FORWARD'])).stdout;
    assert.match(save, /^-P FORWARD DROP/m);
  });

  it('containers reach each other, the gateway and the outside host (masquerade); MTU and MAC as asked', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.99.0.0/24', '-o', 'com.docker.network.driver.mtu=1400', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n1', '--ip', '10.99.0.50', '--mac-address', '02:aa:bb:cc:dd:ee');
    assert.equal((await ping('c1', '10.99.0.50')).code, 0, 'c1 -> c2');
    assert.equal((await ping('c1', 'c2')).code, 0, 'c1 -> c2 by name (Docker DNS)');
    assert.equal((await ping('c2', '10.99.0.1')).code, 0, 'c2 -> gateway');
    assert.equal((await ping('c1', OUTSIDE)).code, 0, 'c1 -> outside host, which has no route to 10.99.0.0/24');
    assert.equal((await dk(h, 'exec', 'c2', 'cat', '/sys/class/net/eth0/address')), '02:aa:bb:cc:dd:ee');
    assert.equal((await dk(h, 'exec', 'c1', 'cat', '/sys/class/net/eth0/mtu')), '1400');
    assert.deepEqual((await dk(h, 'exec', 'c1', 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo']);
  });

  it('enable_ip_masquerade=false: the outside host cannot answer', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.98.0.0/24', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', 'n1');
    await runSleeper(h, 'c1', 'n1');
    assert.notEqual((await ping('c1', OUTSIDE)).code, 0);
    assert.equal((await ping('c1', '10.98.0.1')).code, 0);
  });

  it('enable_icc=false blocks container-to-container traffic but not the way out', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.97.0.0/24', '-o', 'com.docker.network.bridge.enable_icc=false', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n1');
    assert.notEqual((await ping('c1', await ipOf('c2', 'n1'))).code, 0, 'icc blocked');
    assert.equal((await ping('c1', OUTSIDE)).code, 0, 'outside still reachable');
  });

  it('--internal networks reach nothing beyond their bridge and get no default route', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--internal', '--subnet', '10.96.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n1');
    assert.equal((await ping('c1', await ipOf('c2', 'n1'))).code, 0, 'inside the network');
    assert.notEqual((await ping('c1', OUTSIDE)).code, 0, 'outside unreachable');
    assert.doesNotMatch(await dk(h, 'exec', 'c1', 'ip', 'route'), /default/);
    assert.deepEqual((await dk(h, 'exec', 'c1', 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo'], 'no docker_gwbridge either');
  });

  it("two tsnet networks are isolated from each other and from Docker's bridge", async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.95.0.0/24', 'n1');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.94.0.0/24', 'n2');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n2');
    await runSleeper(h, 'd1', 'bridge');
    assert.notEqual((await ping('c1', await ipOf('c2', 'n2'))).code, 0, 'n1 -> n2 blocked');
    assert.notEqual((await ping('c2', await ipOf('c1', 'n1'))).code, 0, 'n2 -> n1 blocked');
    assert.notEqual((await ping('c1', await ipOf('d1', 'bridge'))).code, 0, 'n1 -> docker0 blocked');
    assert.notEqual((await ping('d1', await ipOf('c1', 'n1'))).code, 0, 'docker0 -> n1 blocked');
    assert.equal((await ping('c1', OUTSIDE)).code, 0, 'n1 still reaches outside');
  });

  it('docker network connect / disconnect add and remove a second interface', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.93.0.0/24', 'n1');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.92.0.0/24', 'n2');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n2');
    await dk(h, 'network', 'connect', 'n2', 'c1');
    assert.deepEqual((await dk(h, 'exec', 'c1', 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'eth1', 'lo']);
    assert.equal((await ping('c1', await ipOf('c2', 'n2'))).code, 0, 'c1 reaches c2 through n2');
    await dk(h, 'network', 'disconnect', 'n2', 'c1');
    assert.deepEqual((await dk(h, 'exec', 'c1', 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo']);
  });

  it('IPv6 dual stack: containers reach each other and the gateway over IPv6', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv6', '--subnet', '10.91.0.0/24', '--subnet', 'fd00:91::/64', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n1');
    const ip6 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.n1.GlobalIPv6Address}}', 'c2');
    assert.match(ip6, /^fd00:91::/);
    assert.equal((await h.docker(['exec', 'c1', 'ping6', '-c', '1', '-W', '2', ip6], { allowFail: true })).code, 0, 'c1 -> c2 over IPv6');
    assert.equal((await h.docker(['exec', 'c1', 'ping6', '-c', '1', '-W', '2', 'fd00:91::1'], { allowFail: true })).code, 0, 'c1 -> IPv6 gateway');
  });

  it('with tsnet IPAM too: containers reach each other and the outside', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.90.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await runSleeper(h, 'c2', 'n1');
    assert.equal((await ping('c1', 'c2')).code, 0);
    assert.equal((await ping('c1', OUTSIDE)).code, 0);
  });

  it('after every container and network is gone, no tsnet link or rule is left', async () => {
    await dk(h, 'network', 'create', '-d', 'tsnet', '--subnet', '10.89.0.0/24', 'n1');
    await runSleeper(h, 'c1', 'n1');
    await dk(h, 'rm', '-f', 'c1');
    await dk(h, 'network', 'rm', 'n1');
    assert.deepEqual(await linkNames(), linksBefore);
    const rules = (await iptablesSave()).split('\n').filter((l) => /tsnet:tsnet:net:/.test(l));
    assert.deepEqual(rules, [], 'no per-network rule left');
    assert.ok(rulesBefore.length > 0);
  });
});
