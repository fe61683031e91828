// Real-Docker tier for IPv6-only networks (`docker network create --ipv4=false --ipv6`, Docker 28+), on
// bridge, macvlan and vxlan, with tsnet's IPAM and with Docker's. Two hosts on one underlay (IPv4 for the
// VXLAN, plus IPv6); the underlay namespace's bridge holds the "outside" IPv6 address, which has no route
// to the containers' subnets (so a reply needs the masquerade, as on a real uplink).
//
// What Docker 28.5.2 sends for such a network (observed with a logging proxy on the plugin socket):
// CreateNetwork with `com.docker.network.enable_ipv4: false`, `IPv4Data: []` and one IPv6Data entry; with
// --ipam-driver tsnet one RequestPool (V6 true) and the gateway's RequestAddress, none for IPv4;
// CreateEndpoint with `Interface.Address: ""` and only AddressIPv6; Join answered with GatewayIPv6 alone
// (28 then adds no docker_gwbridge); ProgramExternalConnectivity as usual. Docker 20.10 has no --ipv4=false.
import assert from 'node:assert/strict';
import { IPV6_FORWARDING_WARNING } from '../../src/datapath/shared/ipv6-forwarding';
import { DockerHost, ensureBusyboxImage, IMAGE, requireDocker, run, runSleeper, TSNET_ENTRY, tsnetAllocations, Underlay, dk, eventually } from '../lab';
import { httpGetScript } from '../lab/http-get';

const OUTSIDE6 = 'fd00:211::fe';
/** node -e HTTP_GET <url>: prints the body, exit 0; 1 on error, 2 on timeout (2 s). */
const HTTP_GET = httpGetScript(2000);
const H1 = '10.211.0.1';
const H2 = '10.211.0.2';
const H1_6 = 'fd00:211::1';
const H2_6 = 'fd00:211::2';

describe('docker: IPv6-only networks (--ipv4=false --ipv6, Docker 28)', function () {
  let underlay: Underlay | undefined;
  let h1: DockerHost | undefined;
  let h2: DockerHost | undefined;
  const hosts = () => [h1!, h2!];

  before(async function () {
    await requireDocker(this);
    underlay = await Underlay.create('v6sw');
    await underlay.ip(['addr', 'add', `${OUTSIDE6}/64`, 'dev', 'br0', 'nodad']);
    const start = (name: string, address: string) =>
      DockerHost.start({ name, underlay: underlay!.attach(`${address}/24`), tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'debug' } } });
    [h1, h2] = await Promise.all([start('v6a', H1), start('v6b', H2)]);
    const version = await dk(h1, 'version', '-f', '{{.Server.Version}}');
    if (Number(version.split('.')[0]) < 28) {
      console.warn(`*** PENDING IPv6-only networks on Docker ${version}: --ipv4=false (com.docker.network.enable_ipv4) exists from Docker 28.0 ***`);
      this.skip();
    }
    for (const [h, v6] of [[h1, H1_6], [h2, H2_6]] as const) {
      await h.exec(['ip', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
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

  const ping = (h: DockerHost, c: string, target: string) => h.docker(['exec', c, 'ping', '-c', '1', '-W', '2', target], { allowFail: true });
  const inUnderlay = (cmd: string[]) => run('nsenter', [`--net=/run/netns/${underlay!.netns}`, '--', ...cmd], { allowFail: true });
  /** The container's addresses on eth0 by family, and its interfaces. */
  const containerView = async (h: DockerHost, c: string) => {
    const links = (await dk(h, 'exec', c, 'ls', '/sys/class/net')).split(/\s+/).sort();
    const v4 = await dk(h, 'exec', c, 'ip', '-4', 'addr', 'show', 'dev', 'eth0');
    const v6 = (await dk(h, 'exec', c, 'ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global')).match(/inet6 (\S+)/g) ?? [];
    const routes4 = await dk(h, 'exec', c, 'ip', '-4', 'route');
    return { links, v4, v6: v6.map((s) => s.slice('inet6 '.length)), routes4 };
  };
  const assertIPv6Only = async (h: DockerHost, c: string, subnet: RegExp) => {
    const view = await containerView(h, c);
    assert.deepEqual(view.links, ['eth0', 'lo'], `${c}: one interface, no docker_gwbridge`);
    assert.equal(view.v4, '', `${c}: no IPv4 address`);
    assert.equal(view.routes4, '', `${c}: no IPv4 route`);
    assert.equal(view.v6.length, 1, `${c}: one global IPv6 address: ${view.v6}`);
    assert.match(view.v6[0]!, subnet);
    return view.v6[0]!.split('/')[0]!;
  };
  const netId = (h: DockerHost, n: string) => dk(h, 'network', 'inspect', '-f', '{{.Id}}', n);
  const saved = async (h: DockerHost, tool: 'iptables-save' | 'ip6tables-save', table: string) => (await h.exec([tool, '-t', table])).stdout.split('\n');

  it('bridge, Docker\'s IPAM: no IPv4 on the bridge or in the container, IPv6 between containers and out (masqueraded), no IPv4 NAT, isolation in both families (28.5.2)', async () => {
    const h = h1!;
    const logFrom = h.tsnetLog().length;
    const id = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv4=false', '--ipv6', '--subnet', 'fd10:61::/64', 'b6');
    const bridge = `ts-${id.slice(0, 10)}`;
    // The test host starts as a real host does: IPv6 forwarding off, and tsnet writes no sysctl.
    assert.match(h.tsnetLog().slice(logFrom), new RegExp(IPV6_FORWARDING_WARNING));
    await h.exec(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']); // what dockerd does for an IPv6 network of its own
    const addrs = JSON.parse((await h.exec(['ip', '-j', 'addr', 'show', 'dev', bridge])).stdout)[0].addr_info as { family: string; local: string; prefixlen: number; scope: string }[];
    assert.deepEqual(addrs.filter((a) => a.family === 'inet'), [], 'no IPv4 address on the bridge');
    assert.deepEqual(addrs.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`), ['fd10:61::1/64']);
    await runSleeper(h, 'c1', 'b6');
    await runSleeper(h, 'c2', 'b6');
    await assertIPv6Only(h, 'c1', /^fd10:61::[0-9a-f]+\/64$/);
    const ip2 = await assertIPv6Only(h, 'c2', /^fd10:61::[0-9a-f]+\/64$/);
    assert.equal((await ping(h, 'c1', 'c2')).code, 0, 'c1 -> c2 by name (IPv6)');
    assert.equal((await ping(h, 'c1', 'fd10:61::1')).code, 0, 'c1 -> gateway');
    assert.equal((await ping(h, 'c1', OUTSIDE6)).code, 0, 'c1 -> outside (masqueraded: the outside has no route back)');
    // Firewall: NAT only in IPv6; isolation (mangle guard, filter) in both families.
    const marker = `tsnet:tsnet:net:${id.slice(0, 12)}`;
    assert.deepEqual((await saved(h, 'iptables-save', 'nat')).filter((l) => l.includes(marker)), [], 'no IPv4 NAT rule');
    assert.deepEqual(
      (await saved(h, 'ip6tables-save', 'nat')).filter((l) => l.includes(marker)),
      [
        `-A TSNET-POSTROUTING -s fd10:61::/64 ! -o ${bridge} -m comment --comment "${marker}" -j MASQUERADE`,
        `-A TSNET-POSTROUTING -s fd10:61::/64 -o ${bridge} -m conntrack --ctstate DNAT -m comment --comment "${marker}" -j MASQUERADE`,
      ],
    );
    for (const tool of ['iptables-save', 'ip6tables-save'] as const) {
      const guard = (await saved(h, tool, 'mangle')).filter((l) => l.includes(marker));
      assert.ok(guard.some((l) => l.startsWith(`-A TSNET-GUARD ! -i ${bridge} -o ${bridge} `) && l.endsWith('-j DROP')), `${tool}: nothing enters uninvited`);
      assert.ok((await saved(h, tool, 'filter')).some((l) => l === `-A TSNET-FWD -o ${bridge} -m comment --comment "${marker}" -j DROP`), `${tool}: final DROP`);
    }
    // A Docker IPv6-only bridge network on the same host reaches neither way (IPv6 isolation).
    await dk(h, 'network', 'create', '--ipv4=false', '--ipv6', '--subnet', 'fd10:69::/64', 'd6');
    await runSleeper(h, 'd1', 'd6');
    const ipD = (await containerView(h, 'd1')).v6[0]!.split('/')[0]!;
    assert.notEqual((await ping(h, 'd1', ip2)).code, 0, 'Docker bridge -> tsnet container must fail');
    assert.notEqual((await ping(h, 'c1', ipD)).code, 0, 'tsnet container -> Docker bridge must fail');
    await dk(h, 'rm', '-f', 'c1', 'c2', 'd1');
    await dk(h, 'network', 'rm', 'b6', 'd6');
  });

  it('bridge, masquerade off: IPv6 leaves unmasqueraded, so the outside (no route back) gets no answer through (28.5.2)', async () => {
    const h = h1!;
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv4=false', '--ipv6', '--subnet', 'fd10:62::/64', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', 'b6nm');
    await runSleeper(h, 'c3', 'b6nm');
    const ip = await assertIPv6Only(h, 'c3', /^fd10:62::/);
    assert.notEqual((await ping(h, 'c3', OUTSIDE6)).code, 0, 'no masquerade: the outside cannot answer');
    // A route back on the outside makes it work: routed, not NATed, exactly as the setting says.
    await inUnderlay(['ip', 'route', 'add', 'fd10:62::/64', 'via', H1_6]);
    try {
      assert.equal((await ping(h, 'c3', OUTSIDE6)).code, 0, 'routed out and back with the container address');
      assert.equal((await inUnderlay(['busybox', 'ping', '-c', '1', '-W', '2', ip])).code !== 0, true, 'yet nothing enters uninvited');
    } finally {
      await inUnderlay(['ip', 'route', 'del', 'fd10:62::/64']);
    }
    await dk(h, 'rm', '-f', 'c3');
    await dk(h, 'network', 'rm', 'b6nm');
  });

  it("bridge, tsnet's IPAM: only IPv6 pools and addresses, a given subnet and an automatic one (28.5.2)", async () => {
    const h = h1!;
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--ipv4=false', '--ipv6', '--subnet', 'fd10:63::/64', 't6');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--ipv4=false', '--ipv6', 't6auto');
    await runSleeper(h, 'c4', 't6');
    await runSleeper(h, 'c5', 't6auto');
    const ip4 = await assertIPv6Only(h, 'c4', /^fd10:63::/);
    const ip5 = await assertIPv6Only(h, 'c5', /^fd74:736e:6574:/);
    const held = tsnetAllocations(h);
    assert.ok(held.every((a) => a.includes(':')), `tsnet holds IPv6 addresses only: ${held}`);
    for (const ip of [ip4, ip5]) assert.ok(held.some((a) => expand(a) === expand(ip)), `${ip} held: ${held}`);
    assert.equal((await ping(h, 'c4', OUTSIDE6)).code, 0, 'c4 -> outside');
    await dk(h, 'rm', '-f', 'c4', 'c5');
    await dk(h, 'network', 'rm', 't6', 't6auto');
    assert.deepEqual(tsnetAllocations(h), [], 'all released');
  });

  it('published ports of an IPv6-only container: [::] only, reached from another host over IPv6 and not over IPv4, as on a Docker IPv6-only bridge beside it (28.5.2)', async () => {
    const h = h1!;
    await h.exec(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipv4=false', '--ipv6', '--subnet', 'fd10:66::/64', 'p6');
    await dk(h, 'network', 'create', '--ipv4=false', '--ipv6', '--subnet', 'fd10:67::/64', 'd6p');
    for (const [name, net, port] of [['tweb', 'p6', 8080], ['dweb', 'd6p', 9090]] as const) {
      await dk(h, 'run', '-d', '--name', name, '--network', net, '-p', `${port}:80`, IMAGE, 'sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 80 -h /www`);
    }
    const get = async (url: string) => {
      const r = await h2!.exec([process.execPath, '-e', HTTP_GET, url], { allowFail: true, timeoutMs: 10_000 });
      return r.code === 0 ? r.stdout.trim() : undefined;
    };
    const reach = async (port: number) => ({ v6: await get(`http://[${H1_6}]:${port}/`), v4: await get(`http://${H1}:${port}/`) });
    await eventually(async () => assert.deepEqual(await reach(9090), { v6: 'dweb', v4: undefined }), { timeout: 10_000, what: "Docker's IPv6-only published port (the reference)" });
    await eventually(async () => assert.deepEqual(await reach(8080), { v6: 'tweb', v4: undefined }), { timeout: 10_000, what: "tsnet's IPv6-only published port" });
    const listening = (await h.exec(['ss', '-Hltn'])).stdout;
    assert.match(listening, /\[::\]:8080\s/);
    assert.doesNotMatch(listening, /0\.0\.0\.0:8080\s/, 'no IPv4 socket held for it');
    await dk(h, 'rm', '-f', 'tweb', 'dweb');
    await dk(h, 'network', 'rm', 'p6', 'd6p');
  });

  it("macvlan on the underlay, Docker's IPAM and tsnet's: only IPv6, straight onto the LAN (28.5.2)", async () => {
    const h = h1!;
    const common = ['-o', 'type=macvlan', '-o', 'parent=eth0', '--ipv4=false', '--ipv6', '--subnet', 'fd00:211::/64', '--gateway', OUTSIDE6];
    await dk(h, 'network', 'create', '-d', 'tsnet', ...common, '--ip-range', 'fd00:211::100/120', 'm6');
    await runSleeper(h, 'c6', 'm6');
    const ip6 = await assertIPv6Only(h, 'c6', /^fd00:211::1[0-9a-f]{2}\/64$/);
    assert.equal((await ping(h, 'c6', OUTSIDE6)).code, 0, 'c6 -> the LAN gateway');
    assert.equal((await ping(h, 'c6', H2_6)).code, 0, 'c6 -> the other host on the LAN');
    assert.equal((await inUnderlay(['busybox', 'ping', '-c', '1', '-W', '2', ip6])).code, 0, 'the LAN reaches c6 by its own address');
    await dk(h, 'rm', '-f', 'c6');
    await dk(h, 'network', 'rm', 'm6');
    await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', ...common, '--ip-range', 'fd00:211::200/120', 'm6t');
    await runSleeper(h, 'c7', 'm6t');
    await assertIPv6Only(h, 'c7', /^fd00:211::2[0-9a-f]{2}\/64$/);
    assert.equal((await ping(h, 'c7', OUTSIDE6)).code, 0, 'c7 -> the LAN gateway');
    await dk(h, 'rm', '-f', 'c7');
    await dk(h, 'network', 'rm', 'm6t');
  });

  it("vxlan across both hosts, Docker's IPAM and tsnet's: containers on different hosts talk over IPv6, each goes out through its own host (28.5.2)", async () => {
    for (const h of hosts()) await h.exec(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    const overlay = (h: DockerHost, name: string, vni: number, subnet: string, slice: string, ipam: string[]) =>
      dk(h, 'network', 'create', '-d', 'tsnet', ...ipam, '-o', 'type=vxlan', '-o', `vni=${vni}`, '-o', `peers=${H1},${H2}`,
        '--ipv4=false', '--ipv6', '--subnet', `${subnet}/64`, '--gateway', `${subnet}1`, '--ip-range', slice, name);
    for (const [name, vni, subnet, ipam] of [['x6', 61, 'fd10:64::', []], ['x6t', 62, 'fd10:65::', ['--ipam-driver', 'tsnet']]] as const) {
      await overlay(h1!, name, vni, subnet, `${subnet}100/120`, [...ipam]);
      await overlay(h2!, name, vni, subnet, `${subnet}200/120`, [...ipam]);
      const [a, b] = [`${name}a`, `${name}b`];
      await runSleeper(h1!, a, name);
      await runSleeper(h2!, b, name);
      const ipA = await assertIPv6Only(h1!, a, new RegExp(`^${subnet}1[0-9a-f]{2}/64$`));
      const ipB = await assertIPv6Only(h2!, b, new RegExp(`^${subnet}2[0-9a-f]{2}/64$`));
      await eventually(async () => assert.equal((await ping(h1!, a, ipB)).code, 0, `${a} (h1) -> ${b} (h2)`), { timeout: 15_000, what: `${name}: IPv6 across the overlay` });
      assert.equal((await ping(h2!, b, ipA)).code, 0, `${b} (h2) -> ${a} (h1)`);
      assert.equal((await ping(h1!, a, OUTSIDE6)).code, 0, `${a} -> outside`);
      assert.equal((await ping(h2!, b, OUTSIDE6)).code, 0, `${b} -> outside`);
      for (const h of hosts()) {
        const id = await netId(h, name);
        assert.deepEqual((await saved(h, 'iptables-save', 'nat')).filter((l) => l.includes(`net:${id.slice(0, 12)}`)), [], `${h.name}: no IPv4 NAT for ${name}`);
      }
      await dk(h1!, 'rm', '-f', a);
      await dk(h2!, 'rm', '-f', b);
      for (const h of hosts()) await dk(h, 'network', 'rm', name);
    }
  });
});

/** An IPv6 address with every group written out, for comparing textual forms. */
function expand(ip: string): string {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}
