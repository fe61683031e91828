// Real-Docker tier for the VXLAN data path, standalone (no Swarm): two hosts (namespaces with their own
// dockerd and tsnet) on one underlay bridge, the same `docker network create -o type=vxlan -o vni=42
// -o peers=…` on each, with --ip-range slices of one subnet. The underlay namespace's bridge also
// holds the "outside" address, which has no route to the overlay subnet (replies need masquerade).
import assert from 'node:assert/strict';
import { DockerHost, ensureBusyboxImage, eventuallyDefined, run, Underlay, DF_PING, dk, dkFails, IMAGE, requireDocker, runSleeper, TSNET_ENTRY } from '../lab';

const OUTSIDE = '10.210.0.254';
const H1 = '10.210.0.1';
const H2 = '10.210.0.2';
const UNDERLAY_MTU = 1400;
const OVERLAY_MTU = UNDERLAY_MTU - 50;
const VNI = 42;
const GATEWAY = '10.77.0.1';
const GATEWAY_MAC = '02:74:73:00:00:2a';

describe('docker: vxlan networks across two standalone hosts', function () {
  let underlay: Underlay | undefined;
  let h1: DockerHost | undefined;
  let h2: DockerHost | undefined;
  const hosts = () => [h1!, h2!];

  before(async function () {
    await requireDocker(this);
    underlay = await Underlay.create('vxsw');
    await underlay.ip(['addr', 'add', `${OUTSIDE}/24`, 'dev', 'br0']);
    const start = (name: string, address: string) =>
      DockerHost.start({ name, underlay: underlay!.attach(`${address}/24`), tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug' } } });
    [h1, h2] = await Promise.all([start('vx1', H1), start('vx2', H2)]);
    for (const h of hosts()) {
      // A smaller underlay MTU than the usual 1500, so the overlay's is visibly derived from it; and a
      // default route (to the outside address), which is where tsnet takes the underlay from.
      await h.exec(['ip', 'link', 'set', 'eth0', 'mtu', String(UNDERLAY_MTU)]);
      await h.exec(['ip', 'route', 'add', 'default', 'via', OUTSIDE]);
    }
    await Promise.all(hosts().map((h) => ensureBusyboxImage(h, IMAGE)));
    await Promise.all(hosts().map((h) => h.startTsnet()));
  });

  after(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const h of [h1, h2]) if (h) console.error(`--- tsnet log (${h.name}) ---\n${h.tsnetLog().slice(-6000)}`);
    }
    await Promise.all([h1?.stop(), h2?.stop()]);
    await underlay?.destroy();
  });

  const createOverlay = (h: DockerHost, slice: string, name = 'ov', vni = VNI) =>
    dk(
      h,
      'network', 'create', '-d', 'tsnet',
      '-o', 'type=vxlan', '-o', `vni=${vni}`, '-o', `peers=${H1},${H2}`,
      '--subnet', '10.77.0.0/24', '--gateway', GATEWAY, '--ip-range', slice,
      name,
    );
  const ping = (h: DockerHost, c: string, target: string) => h.docker(['exec', c, 'ping', '-c', '1', '-W', '2', target], { allowFail: true });
  const ipOf = (h: DockerHost, c: string) => dk(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "ov").IPAddress}}', c);
  const macOf = (h: DockerHost, c: string) => dk(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "ov").MacAddress}}', c);
  const neighbour = (h: DockerHost, c: string, ip: string) => dk(h, 'exec', c, 'ip', 'neigh', 'show', ip);
  const ourLinks = async (h: DockerHost) =>
    (JSON.parse((await h.exec(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string; ifalias?: string }[])
      .filter((l) => l.ifalias?.startsWith('tsnet:'))
      .map((l) => l.ifname);
  const vxlanFdb = async (h: DockerHost) =>
    (JSON.parse((await h.exec(['bridge', '-j', 'fdb', 'show'])).stdout) as { dst?: string; ifname: string }[]).filter((e) => e.dst);

  /** The VXLAN input filter's rules (hook and chain) as iptables-save prints them. */
  const inputFilter = async (h: DockerHost) =>
    (await h.exec(['iptables-save', '-t', 'filter'])).stdout.split('\n').filter((l) => /^-A (INPUT|TSNET-VXLAN-IN) /.test(l));

  /** Packets counted by the DROP rule of the VXLAN input filter. */
  const inputDrops = async (h: DockerHost) => {
    const line = (await h.exec(['iptables-save', '-c', '-t', 'filter'])).stdout.split('\n').find((l) => /\] -A TSNET-VXLAN-IN -p udp .* -j DROP$/.test(l));
    assert.ok(line, `${h.name}: the input filter has its DROP rule`);
    return Number(/^\[(\d+):/.exec(line)![1]);
  };
  const inUnderlayNs = (cmd: string[]) => run('nsenter', [`--net=/run/netns/${underlay!.netns}`, '--', ...cmd], { allowFail: true });

  let ip1 = '';
  let ip2 = '';

  it('the same create on both hosts makes one network: containers on different hosts reach each other (ARP both ways)', async () => {
    await createOverlay(h1!, '10.77.0.0/25');
    await createOverlay(h2!, '10.77.0.128/25');
    await runSleeper(h1!, 'c1', 'ov');
    await runSleeper(h2!, 'c2', 'ov');
    ip1 = await ipOf(h1!, 'c1');
    ip2 = await ipOf(h2!, 'c2');
    assert.match(ip1, /^10\.77\.0\.([0-9]|[1-9][0-9]|1[01][0-9]|12[0-7])$/, 'h1 allocates from its slice');
    assert.match(ip2, /^10\.77\.0\.(1[3-9][0-9]|2[0-5][0-9]|12[89])$/, 'h2 allocates from its slice');
    assert.equal((await ping(h1!, 'c1', ip2)).code, 0, 'c1 (h1) -> c2 (h2)');
    assert.equal((await ping(h2!, 'c2', ip1)).code, 0, 'c2 (h2) -> c1 (h1)');
    assert.match(await neighbour(h1!, 'c1', ip2), new RegExp(await macOf(h2!, 'c2')));
    assert.match(await neighbour(h2!, 'c2', ip1), new RegExp(await macOf(h1!, 'c1')));
    for (const [h, c] of [[h1!, 'c1'], [h2!, 'c2']] as const) {
      assert.deepEqual((await dk(h, 'exec', c, 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo'], `${c}: one interface, no docker_gwbridge`);
    }
  });

  it('the VXLAN port takes VNI 42 only from the underlay subnet (the learning scope, holding both peers); every rule matches the VNI', async () => {
    for (const h of hosts()) {
      const id = (await dk(h, 'network', 'inspect', '-f', '{{.Id}}', 'ov')).slice(0, 12);
      const tail = `-p udp -m udp --dport 4789 -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x2a" -m comment --comment "tsnet:tsnet:net:${id}:vxlan"`;
      const rules = await inputFilter(h);
      assert.equal(rules[0], '-A INPUT -p udp -m comment --comment "tsnet:tsnet:hook" -j TSNET-VXLAN-IN', `${h.name}: hooked first in INPUT`);
      assert.deepEqual(
        rules.filter((l) => l.startsWith('-A TSNET-VXLAN-IN ')),
        [`-A TSNET-VXLAN-IN -s 10.210.0.0/24 ${tail} -j ACCEPT`, `-A TSNET-VXLAN-IN ${tail} -j DROP`],
        h.name,
      );
    }
  });

  it('with TSNET_PEER_CIDRS elsewhere, the peer is admitted by its address and another VTEP on the underlay is dropped', async () => {
    const sources = async () =>
      (await inputFilter(h2!)).filter((l) => l.startsWith('-A TSNET-VXLAN-IN ')).map((l) => l.split(' -p udp')[0]!.replace('-A TSNET-VXLAN-IN', '').trim());
    await h2!.stopTsnet();
    await h2!.startTsnet({ TSNET_PEER_CIDRS: '192.0.2.0/24' });
    try {
      assert.deepEqual(await sources(), ['-s 192.0.2.0/24', `-s ${H1}/32`, ''], 'scope, the peer outside it, DROP');
      assert.equal((await ping(h1!, 'c1', ip2)).code, 0, 'c1 (h1, a peer) -> c2');
      // The underlay namespace (10.210.0.254: no peer, outside the scope now) sends VNI 42 to h2.
      const before = await inputDrops(h2!);
      await underlay!.ip(['link', 'add', 'vxstranger', 'type', 'vxlan', 'id', String(VNI), 'dstport', '4789', 'local', OUTSIDE, 'dev', 'br0']);
      try {
        await underlay!.ip(['addr', 'add', '10.77.0.250/24', 'dev', 'vxstranger']);
        await underlay!.ip(['link', 'set', 'vxstranger', 'up']);
        await inUnderlayNs(['bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxstranger', 'dst', H2]);
        assert.notEqual((await inUnderlayNs(['busybox', 'ping', '-c', '1', '-W', '2', ip2])).code, 0, 'stranger -> c2 must fail');
        assert.ok((await inputDrops(h2!)) > before, "h2's DROP rule counted the stranger's packets");
      } finally {
        await underlay!.ip(['link', 'del', 'vxstranger']);
      }
      assert.equal((await ping(h1!, 'c1', ip2)).code, 0, 'c1 -> c2 still');
    } finally {
      await h2!.stopTsnet();
      await h2!.startTsnet();
    }
    assert.deepEqual(await sources(), ['-s 10.210.0.0/24', ''], 'back to the default scope after a restart without the setting');
  });

  it("eth0's MTU is the underlay's minus 50; a DF ping of MTU-28 bytes passes, MTU-27 fails", async () => {
    assert.equal(await dk(h1!, 'exec', 'c1', 'cat', '/sys/class/net/eth0/mtu'), String(OVERLAY_MTU));
    assert.equal(await dk(h2!, 'exec', 'c2', 'cat', '/sys/class/net/eth0/mtu'), String(OVERLAY_MTU));
    const df = (size: number) => h1!.inContainerNs('c1', ['perl', '-e', DF_PING, ip2, String(size)], { allowFail: true });
    const ok = await df(OVERLAY_MTU - 28);
    assert.equal(ok.code, 0, `DF ping of ${OVERLAY_MTU - 28} bytes: ${ok.stdout}`);
    const tooBig = await df(OVERLAY_MTU - 27);
    assert.notEqual(tooBig.code, 0, `DF ping of ${OVERLAY_MTU - 27} bytes: ${tooBig.stdout}`);
  });

  it('TCP works across the hosts (an echo server on c2 answers c1)', async () => {
    // -ll keeps the server up between connections, so a connect that raced its start can be retried.
    await dk(h2!, 'exec', '-d', 'c2', 'nc', '-ll', '-p', '5000', '-e', 'cat');
    const exchange = async () => {
      const r = await h1!.docker(['exec', 'c1', 'sh', '-c', `echo hello over vxlan | nc -w 2 ${ip2} 5000`], { allowFail: true });
      return r.code === 0 && r.stdout.trim() === 'hello over vxlan' ? r.stdout.trim() : undefined;
    };
    assert.equal(await eventuallyDefined(exchange, { timeout: 15_000, interval: 200, what: 'the echo of c2 over the overlay' }), 'hello over vxlan');
  });

  it("each container's gateway is its own host's (same IP and MAC everywhere); outbound works with the other host's tsnet stopped", async () => {
    assert.equal((await ping(h1!, 'c1', GATEWAY)).code, 0);
    assert.equal((await ping(h2!, 'c2', GATEWAY)).code, 0);
    assert.match(await neighbour(h1!, 'c1', GATEWAY), new RegExp(`lladdr ${GATEWAY_MAC}`));
    assert.match(await neighbour(h2!, 'c2', GATEWAY), new RegExp(`lladdr ${GATEWAY_MAC}`));
    await h2!.stopTsnet();
    try {
      assert.equal((await ping(h1!, 'c1', OUTSIDE)).code, 0, 'c1 -> outside (masqueraded by h1)');
      assert.equal((await ping(h2!, 'c2', OUTSIDE)).code, 0, 'c2 -> outside (masqueraded by h2, whose tsnet is stopped)');
      assert.equal((await ping(h1!, 'c1', ip2)).code, 0, 'c1 -> c2 still');
    } finally {
      await h2!.startTsnet();
    }
    assert.equal((await ping(h1!, 'c1', ip2)).code, 0, 'c1 -> c2 after h2 tsnet restarted (reconcile left it working)');
  });

  it('-p publishes on the container\'s own host', async () => {
    await runSleeper(h2!, 'web', 'ov', '-p', '8080:80');
    await dk(h2!, 'exec', '-d', 'web', 'sh', '-c', 'nc -l -p 80 -e echo hi-from-web');
    const fetch = async () => {
      let answer = '';
      for (let i = 0; i < 20 && answer === ''; i++) {
        const r = await run('nsenter', [`--net=/run/netns/${underlay!.netns}`, '--', 'busybox', 'nc', '-w', '2', H2, '8080'], { allowFail: true });
        answer = r.stdout.trim();
        if (answer === '') await new Promise((res) => setTimeout(res, 200));
      }
      return answer;
    };
    assert.equal(await fetch(), 'hi-from-web', 'outside -> h2:8080 -> web');
    // A tsnet restart republishes the port (after the bridge data path's port reconcile).
    await h2!.stopTsnet();
    await h2!.startTsnet();
    await dk(h2!, 'exec', '-d', 'web', 'sh', '-c', 'nc -l -p 80 -e echo hi-again');
    assert.equal(await fetch(), 'hi-again', 'still published after a tsnet restart');
    assert.match((await h2!.exec(['iptables-save', '-t', 'nat'])).stdout, /--dport 8080 .*-j DNAT --to-destination 10\.77\.0\.\d+:80/);
    await dk(h2!, 'rm', '-f', 'web');
  });

  it('--internal: members talk across the hosts; neither reaches the outside, the hosts\' addresses or the gateway, even by its own route', async () => {
    const create = (h: DockerHost, slice: string) =>
      dk(h, 'network', 'create', '-d', 'tsnet', '--internal', '-o', 'type=vxlan', '-o', 'vni=44', '-o', `peers=${H1},${H2}`,
        '--subnet', '10.78.0.0/24', '--gateway', '10.78.0.1', '--ip-range', slice, 'ovint');
    await create(h1!, '10.78.0.0/25');
    await create(h2!, '10.78.0.128/25');
    await runSleeper(h1!, 'i1', 'ovint');
    await runSleeper(h2!, 'i2', 'ovint');
    try {
      const ipI2 = await dk(h2!, 'inspect', '-f', '{{(index .NetworkSettings.Networks "ovint").IPAddress}}', 'i2');
      assert.equal((await ping(h1!, 'i1', ipI2)).code, 0, 'i1 (h1) -> i2 (h2)');
      // A container that adds a route through the gateway address it knows still finds no way out.
      await h1!.inContainerNs('i1', ['ip', 'route', 'replace', 'default', 'via', '10.78.0.1']);
      for (const target of [OUTSIDE, H1, H2, '10.78.0.1', GATEWAY]) {
        assert.notEqual((await ping(h1!, 'i1', target)).code, 0, `i1 -> ${target}`);
      }
      assert.notEqual((await ping(h1!, 'c1', ipI2)).code, 0, 'another network (c1 on ov) -> i2');
    } finally {
      await h1!.docker(['rm', '-f', 'i1'], { allowFail: true });
      await h2!.docker(['rm', '-f', 'i2'], { allowFail: true });
      await h1!.docker(['network', 'rm', 'ovint'], { allowFail: true });
      await h2!.docker(['network', 'rm', 'ovint'], { allowFail: true });
    }
  });

  it('refuses a second network with the same VNI on a host, and a vxlan network without a VNI', async () => {
    const err = await dkFails(h1!, 'network', 'create', '-d', 'tsnet', '-o', 'type=vxlan', '-o', `vni=${VNI}`, '--subnet', '10.78.0.0/24', 'ov-dup');
    assert.match(err, new RegExp(`VNI ${VNI} \\(UDP port 4789\\) is already used by tsnet vxlan network`));
    const noVni = await dkFails(h1!, 'network', 'create', '-d', 'tsnet', '-o', 'type=overlay', '--subnet', '10.79.0.0/24', 'ov-novni');
    assert.match(noVni, /needs -o vni=N/);
  });

  it('docker network rm on one host leaves the other intact and leaves no tsnet link or FDB entry behind', async () => {
    await dk(h1!, 'rm', '-f', 'c1');
    await dk(h1!, 'network', 'rm', 'ov');
    assert.deepEqual(await ourLinks(h1!), [], 'h1: no tsnet link');
    assert.ok(!(await inputFilter(h1!)).some((l) => l.includes(':vxlan"')), 'h1: no VXLAN input filter');
    assert.equal((await inputFilter(h2!)).filter((l) => l.includes(':vxlan"')).length, 2, 'h2: its input filter remains');
    assert.deepEqual(await vxlanFdb(h1!), [], 'h1: no VXLAN FDB entry');
    assert.doesNotMatch((await h1!.exec(['ebtables-nft-save'])).stdout, /TSNET-GW/, 'h1: no gateway filter (the egress filter stays, like the chains, until tsnet stops with no network)');

    assert.equal((await ourLinks(h2!)).length, 3, 'h2: bridge, vxlan device and c2\'s veth remain');
    assert.equal((await ping(h2!, 'c2', GATEWAY)).code, 0, 'h2: c2 -> its gateway');
    assert.equal((await ping(h2!, 'c2', OUTSIDE)).code, 0, 'h2: c2 -> outside');

    await dk(h2!, 'rm', '-f', 'c2');
    await dk(h2!, 'network', 'rm', 'ov');
    assert.deepEqual(await ourLinks(h2!), []);
    assert.deepEqual(await vxlanFdb(h2!), []);
    assert.ok(!(await inputFilter(h2!)).some((l) => l.includes(':vxlan"')), 'h2: no VXLAN input filter');
  });
});
