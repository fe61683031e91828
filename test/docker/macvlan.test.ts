// Real-Docker tier for macvlan networks (-o type=macvlan): containers as hosts on an existing L2 segment.
//
// The "LAN": a veth pair created in the Docker host's namespace; its far end (lan0) sits in a namespace
// this suite creates (tsnmv-<random>, not the harness's tsnt- prefix) and plays an existing host on the
// segment, 192.168.77.2/24; the near end (mvlan0, up, no address) is the macvlan parent. The LAN host's
// address is handed to IPAM as --aux-address: it is the first address IPAM would otherwise give out.
// The gateway 192.168.77.1 exists nowhere (a router on a real LAN); nothing is sent to it. All test
// traffic goes to containers the suite started and to the LAN namespace it created.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { binaries, dk, dkFails, hostIpJson, run, runSleeper, tsnetAllocations, withTsnetHost } from '../lab';

const PARENT = 'mvlan0';
const LAN_IF = 'lan0';
const SUBNET = '192.168.77.0/24';
const GATEWAY = '192.168.77.1';
const LAN_HOST = '192.168.77.2';

describe('docker: macvlan networks on a LAN segment', function () {
  const { host } = withTsnetHost('macvlan');
  const lanNs = `tsnmv-${randomBytes(4).toString('hex')}`;
  let lanNsMade = false;

  /** `ip` in the LAN namespace. */
  const lanIp = (...args: string[]) => run('ip', ['-n', lanNs, ...args]);
  /** A busybox applet in the LAN namespace (the LAN host pinging a container; the host may have no ping of its own). */
  const onLanHost = (...cmd: string[]) => run('ip', ['netns', 'exec', lanNs, binaries().busybox, ...cmd], { allowFail: true });

  before(async () => {
    const h = host();
    await run('ip', ['netns', 'add', lanNs]);
    lanNsMade = true;
    await lanIp('link', 'set', 'lo', 'up');
    await run('ip', ['-n', h.netns, 'link', 'add', PARENT, 'type', 'veth', 'peer', 'name', LAN_IF, 'netns', lanNs]);
    await lanIp('addr', 'add', `${LAN_HOST}/24`, 'dev', LAN_IF);
    await lanIp('link', 'set', LAN_IF, 'up');
    await h.exec(['ip', 'link', 'set', PARENT, 'up']);
  });

  after(async () => {
    if (lanNsMade) await run('ip', ['netns', 'del', lanNs], { allowFail: true });
  });

  afterEach(async () => {
    const h = host();
    await h.docker(['rm', '-f', 'c1', 'c2', 'c3'], { allowFail: true });
    for (const n of ['mv', 'mv2', 'mvint']) await h.docker(['network', 'rm', n], { allowFail: true });
  });

  async function ipOf(container: string, network = 'mv'): Promise<string> {
    return dk(host(), 'inspect', '-f', `{{.NetworkSettings.Networks.${network}.IPAddress}}`, container);
  }

  async function pings(container: string, target: string): Promise<boolean> {
    const r = await host().docker(['exec', container, 'ping', '-c', '1', '-W', '1', target], { allowFail: true });
    return r.code === 0;
  }

  /** The container's eth0 as the kernel sees it (host `ip` in the container's namespace). */
  async function containerEth0(container: string): Promise<{ mode?: string; mtu: number; address: string }> {
    const r = await host().inContainerNs(container, ['ip', '-j', '-d', 'link', 'show', 'eth0']);
    const [l] = JSON.parse(r.stdout) as { mtu: number; address: string; linkinfo?: { info_kind?: string; info_data?: { mode?: string } } }[];
    assert.equal(l!.linkinfo?.info_kind, 'macvlan');
    return { mode: l!.linkinfo?.info_data?.mode, mtu: l!.mtu, address: l!.address };
  }

  async function hostLinks(): Promise<{ ifname: string; ifalias?: string; flags: string[] }[]> {
    return hostIpJson(host(), 'link', 'show');
  }

  /** Every address on every interface of the Docker host and of the LAN namespace. */
  async function allHostAddresses(): Promise<string[]> {
    const host4 = (await hostIpJson<{ addr_info: { local: string }[] }[]>(host(), 'addr', 'show')).flatMap((l) => l.addr_info.map((a) => a.local));
    const lan = (JSON.parse((await lanIp('-j', 'addr', 'show')).stdout) as { addr_info: { local: string }[] }[]).flatMap((l) => l.addr_info.map((a) => a.local));
    return [...host4, ...lan];
  }

  /** The scenario every IPAM must pass: bridge mode, --ip, --aux-address, gateway, one interface, clean rm. */
  async function bridgeModeScenario(ipamArgs: string[]): Promise<void> {
    const h = host();
    const t0 = Date.now();
    await dk(h, 'network', 'create', '-d', 'tsnet', ...ipamArgs, '-o', 'type=macvlan', '-o', `parent=${PARENT}`,
      '--subnet', SUBNET, '--gateway', GATEWAY, '--aux-address', `lanhost=${LAN_HOST}`, 'mv');
    const tNet = Date.now();
    await runSleeper(h, 'c1', 'mv');
    const tRun = Date.now();
    await runSleeper(h, 'c2', 'mv', '--ip', '192.168.77.50', '--mac-address', '02:42:c0:a8:4d:aa');
    const ip1 = await ipOf('c1');
    const ip2 = await ipOf('c2');
    assert.equal(ip2, '192.168.77.50', '--ip honoured');
    assert.notEqual(ip1, LAN_HOST, '--aux-address keeps the LAN host out of the pool');
    assert.notEqual(ip1, GATEWAY);

    for (const c of ['c1', 'c2']) {
      const links = (await dk(h, 'exec', c, 'ls', '/sys/class/net')).split(/\s+/).sort();
      assert.deepEqual(links, ['eth0', 'lo'], `${c}: exactly eth0 and lo (no docker_gwbridge)`);
      const eth0 = await containerEth0(c);
      assert.equal(eth0.mode, 'bridge');
      assert.equal(eth0.mtu, 1500, 'the parent\'s MTU');
      const route = await dk(h, 'exec', c, 'ip', 'route');
      assert.match(route, new RegExp(`default via ${GATEWAY.replace(/\./g, '\\.')} dev eth0`), 'Join returned the IPAM gateway');
    }
    assert.equal((await containerEth0('c2')).address, '02:42:c0:a8:4d:aa', '--mac-address honoured');

    assert.ok(await pings('c1', LAN_HOST), 'c1 reaches the LAN host');
    assert.ok(await pings('c2', LAN_HOST), 'c2 reaches the LAN host');
    assert.ok(await pings('c1', ip2), 'c1 reaches c2');
    assert.ok(await pings('c2', ip1), 'c2 reaches c1');
    assert.equal((await onLanHost('ping', '-c', '1', '-W', '1', ip1)).code, 0, 'the LAN host reaches c1');

    const addresses = await allHostAddresses();
    assert.ok(!addresses.includes(GATEWAY), `the gateway is on no host interface: ${addresses.join(', ')}`);
    const parent = (await hostLinks()).find((l) => l.ifname === PARENT)!;
    assert.equal(parent.ifalias, undefined, 'the parent is not marked');

    await dk(h, 'rm', '-f', 'c1', 'c2');
    await dk(h, 'network', 'rm', 'mv');
    const after = await hostLinks();
    assert.deepEqual(after.filter((l) => l.ifname.startsWith('tsm')).map((l) => l.ifname), [], 'no tsm* link left');
    const parentAfter = after.find((l) => l.ifname === PARENT);
    assert.ok(parentAfter && parentAfter.flags.includes('UP'), 'the parent is untouched (still there, still up)');
    console.log(`      timings: network create ${tNet - t0} ms, first docker run ${tRun - tNet} ms`);
  }

  it('tsnet IPAM: bridge mode, --ip, --mac-address, --aux-address, gateway, one interface, clean rm', async () => {
    await bridgeModeScenario(['--ipam-driver', 'tsnet']);
    assert.deepEqual(tsnetAllocations(host()), [], 'all addresses released');
  });

  it("Docker's default IPAM: the same", async () => {
    await bridgeModeScenario([]);
  });

  it('private mode: containers reach the LAN host but not each other', async () => {
    const h = host();
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`,
      '-o', 'macvlan_mode=private', '--subnet', SUBNET, '--gateway', GATEWAY, '--aux-address', `lanhost=${LAN_HOST}`, 'mv');
    await runSleeper(h, 'c1', 'mv');
    await runSleeper(h, 'c2', 'mv');
    assert.equal((await containerEth0('c1')).mode, 'private');
    assert.ok(await pings('c1', LAN_HOST));
    assert.ok(await pings('c2', LAN_HOST));
    assert.equal(await pings('c1', await ipOf('c2')), false, 'private mode: c1 cannot reach c2');
    assert.equal(await pings('c2', await ipOf('c1')), false, 'private mode: c2 cannot reach c1');
  });

  it('a second network on the same parent is refused; a missing parent and an 802.1q parent fail clearly, leaving nothing', async () => {
    const h = host();
    const before = (await hostLinks()).map((l) => l.ifname).sort();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`, '--subnet', SUBNET, 'mv');
    const err = await dkFails(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`, '--subnet', '192.168.78.0/24', 'mv2');
    assert.match(err, new RegExp(`network ${id.slice(0, 12)} already uses parent ${PARENT}`));
    await dk(h, 'network', 'rm', 'mv');

    assert.match(await dkFails(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=macvlan', '-o', 'parent=nope0', 'mv'), /parent interface nope0 does not exist/);
    const vlanErr = await dkFails(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}.10`, '--ipam-driver', 'tsnet', 'mv');
    // This kernel has no 802.1q; on one that has, the sub-interface would have been made (netns and unit tiers).
    assert.match(vlanErr, /kernel refused to create 802\.1q sub-interface mvlan0\.10: .*\(is the 8021q module available\?\)/);
    assert.deepEqual((await hostLinks()).map((l) => l.ifname).sort(), before, 'nothing left behind');
    assert.deepEqual(tsnetAllocations(h), [], 'no pool left allocated');
  });

  it('no parent: an internal network on a parent tsnet owns; containers reach each other; all gone after rm', async () => {
    const h = host();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '-o', 'type=macvlan', '--internal', '--subnet', '10.77.5.0/24', 'mvint');
    const parent = `tsmp${id.slice(0, 11)}`;
    assert.ok((await hostLinks()).some((l) => l.ifname === parent), `internal parent ${parent} made`);
    await runSleeper(h, 'c1', 'mvint');
    await runSleeper(h, 'c2', 'mvint');
    assert.deepEqual((await dk(h, 'exec', 'c1', 'ls', '/sys/class/net')).split(/\s+/).sort(), ['eth0', 'lo']);
    assert.ok(await pings('c1', await ipOf('c2', 'mvint')), 'c1 reaches c2 over the internal parent');
    assert.equal(await pings('c1', LAN_HOST), false, 'the LAN is not reachable from an internal network');
    await dk(h, 'rm', '-f', 'c1', 'c2');
    await dk(h, 'network', 'rm', 'mvint');
    assert.deepEqual((await hostLinks()).filter((l) => l.ifname.startsWith('tsm')).map((l) => l.ifname), [], 'parent and links removed');
  });

  it('--internal with -o parent: the LAN host stays unreachable both ways (the parent is not used); without --internal it is reached', async () => {
    const h = host();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`, '--internal',
      '--subnet', SUBNET, '--aux-address', `lanhost=${LAN_HOST}`, 'mvint');
    await runSleeper(h, 'c1', 'mvint');
    await runSleeper(h, 'c2', 'mvint');
    assert.ok(await pings('c1', await ipOf('c2', 'mvint')), 'c1 reaches c2');
    assert.equal(await pings('c1', LAN_HOST), false, 'c1 -> LAN host');
    assert.notEqual((await onLanHost('ping', '-c', '1', '-W', '1', await ipOf('c1', 'mvint'))).code, 0, 'LAN host -> c1');
    assert.ok((await hostLinks()).some((l) => l.ifname === `tsmp${id.slice(0, 11)}`), 'built on its own internal parent');
    assert.match(h.tsnetLog(), /--internal macvlan network: -o parent is not used/);
    await dk(h, 'rm', '-f', 'c1', 'c2');
    await dk(h, 'network', 'rm', 'mvint');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`,
      '--subnet', SUBNET, '--aux-address', `lanhost=${LAN_HOST}`, 'mv');
    await runSleeper(h, 'c1', 'mv');
    assert.ok(await pings('c1', LAN_HOST), 'not internal: the LAN host is reached (the test can fail)');
  });

  it('a tsnet restart changes nothing for running containers; the parent stays taken', async () => {
    const h = host();
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`,
      '--subnet', SUBNET, '--gateway', GATEWAY, '--aux-address', `lanhost=${LAN_HOST}`, 'mv');
    await runSleeper(h, 'c1', 'mv');
    await h.stopTsnet('SIGKILL');
    await h.startTsnet();
    assert.ok(await pings('c1', LAN_HOST), 'c1 still reaches the LAN host');
    await runSleeper(h, 'c2', 'mv');
    assert.ok(await pings('c2', await ipOf('c1')), 'a new container reaches the old one');
    const err = await dkFails(h, 'network', 'create', '-d', 'tsnet', '-o', 'type=macvlan', '-o', `parent=${PARENT}`, '--subnet', '192.168.78.0/24', 'mv2');
    assert.match(err, new RegExp(`network ${id.slice(0, 12)} already uses parent ${PARENT}`), 'the registry is rebuilt at start');
    const links = (await hostLinks()).map((l) => l.ifname);
    assert.deepEqual(links.filter((n) => n.startsWith('tsm')), [], 'no duplicate link made for joined endpoints');
  });
});
