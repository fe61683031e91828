/**
 * VxlanDataPath over an IPv6 underlay, against the real kernel. As in vxlan.test.ts (beside this file), the mocha
 * process is host A (a private network namespace) and host B is a child namespace set up by hand:
 *
 *   host A (this process)                                host B (child netns)
 *   ul0 fd11::1/64 mtu 1400 ──── veth underlay ──── eth0 fd11::2/64
 *   ts-… bridge 10.78.0.1 (data path)                   brB 10.78.0.1, same anycast MAC
 *   tsx… vxlan 43, local fd11::1 (data path)             vxB vxlan 43 local fd11::2, flood → fd11::1
 *   container cA 10.78.0.2                               container cB 10.78.0.130
 *
 * The IPv6 outer header is 20 bytes longer, so the overlay MTU is the underlay's minus 70.
 */
import assert from 'node:assert/strict';
import { EbtablesGatewayFilter } from '../../../../src/firewall/gateway-filter';
import { VxlanDataPath, vxlanName, type VxlanNetworkState } from '../../../../src/datapath/vxlan/vxlan';
import type { EndpointRecord, NetworkRecord } from '../../../../src/model/records';
import { testLogger } from '../../../../src/log';
import { ChildNs, DF_PING, requireThrowawayNetns, runSync as run, moveIntoContainer, unwireRemoteHost, wireRemoteHost } from '../../../lab';
import { endpointRecord, ipamPool, networkRecord, newId, vxlanOptions } from '../../../lab/records';

const INSTANCE = 'nsvx6';
const A_UNDERLAY = 'fd11::1';
const B_UNDERLAY = 'fd11::2';
const UNDERLAY_MTU = 1400;
const OVERLAY_MTU = UNDERLAY_MTU - 70;
const VNI = 43;
const GATEWAY_MAC = '02:74:73:00:00:2b';

function network(id: string): NetworkRecord {
  return networkRecord(vxlanOptions({ vni: VNI, peers: [A_UNDERLAY, B_UNDERLAY], underlay: 'ul0' }), { id, ipv4: [ipamPool('10.78.0.0/24', '10.78.0.1/24')] });
}

function endpoint(net: NetworkRecord, address: string, mac: string): EndpointRecord {
  return endpointRecord(net, { address, macAddress: mac });
}

describe('vxlan data path over an IPv6 underlay (netns)', function () {
  this.timeout(30000);
  const log = testLogger();
  const spawned: ChildNs[] = [];
  let hostB: ChildNs;
  let cA: ChildNs;
  let cB: ChildNs;
  let filter: EbtablesGatewayFilter;
  let dp: VxlanDataPath | undefined;
  let net: NetworkRecord | undefined;

  before(async function () {
    requireThrowawayNetns(this);
    for (const name of ['hostB6', 'cA6', 'cB6']) spawned.push(await ChildNs.start(name));
    [hostB, cA, cB] = spawned as [ChildNs, ChildNs, ChildNs];
    for (const ns of [cA, cB]) ns.sh('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');

    wireRemoteHost(hostB, cB, {
      aUnderlay: A_UNDERLAY,
      bUnderlay: B_UNDERLAY,
      prefixLength: 64,
      underlayMtu: UNDERLAY_MTU,
      overlayMtu: OVERLAY_MTU,
      vni: VNI,
      gateway: '10.78.0.1/24',
      gatewayMac: GATEWAY_MAC,
      cB: '10.78.0.130/24',
    });

    filter = new EbtablesGatewayFilter({ instance: INSTANCE, logger: log });
    dp = new VxlanDataPath({ log, instance: INSTANCE, gatewayFilter: filter, peerIntervalMs: 0 });
    net = network(newId());
    net.datapath = await dp.createNetwork(net);
    const ep = endpoint(net, '10.78.0.2/24', '02:42:0a:4e:00:02');
    ep.datapath = await dp.createEndpoint(net, ep);
    const { srcName } = await dp.join(net, ep, '/var/run/docker/netns/test');
    moveIntoContainer(srcName, cA, '10.78.0.2/24', '10.78.0.1');
  });

  after(async () => {
    dp?.stop();
    if (dp && net) await dp.deleteNetwork(net).catch(() => undefined);
    for (const ns of spawned) ns.stop();
    unwireRemoteHost();
    await filter?.replaceAll([]).catch(() => undefined);
  });

  it('the VXLAN device sends from the IPv6 underlay address; overlay MTU = underlay MTU - 70 on the device and the container end', () => {
    const state = net!.datapath as unknown as VxlanNetworkState;
    assert.deepEqual([state.local, state.underlay, state.mtu], [A_UNDERLAY, 'ul0', OVERLAY_MTU]);
    const [link] = JSON.parse(run('ip', ['-j', '-d', 'link', 'show', vxlanName(net!.id)])) as { mtu: number; linkinfo: { info_data: Record<string, unknown> } }[];
    assert.equal(link!.linkinfo.info_data.local6 ?? link!.linkinfo.info_data.local, A_UNDERLAY);
    assert.equal(link!.mtu, OVERLAY_MTU);
    assert.equal((JSON.parse(cA.exec(['ip', '-j', 'link', 'show', 'eth0'])) as { mtu: number }[])[0]!.mtu, OVERLAY_MTU, 'container eth0');
    const flood = (JSON.parse(run('bridge', ['-j', 'fdb', 'show', 'dev', vxlanName(net!.id)])) as { mac: string; dst?: string }[])
      .filter((e) => e.mac === '00:00:00:00:00:00')
      .map((e) => e.dst);
    assert.deepEqual(flood, [B_UNDERLAY], 'floods to the other host only');
  });

  it('containers on the two hosts reach each other across the IPv6 underlay, both ways', () => {
    assert.equal(cA.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.78.0.130']), 0, 'cA -> cB');
    assert.equal(cB.status(['busybox', 'ping', '-c', '1', '-W', '2', '10.78.0.2']), 0, 'cB -> cA');
  });

  it("a don't-fragment ping of MTU-28 bytes passes, one of MTU-27 bytes is refused", () => {
    const df = (size: number) => cA.status(['perl', '-e', DF_PING, '10.78.0.130', String(size)]);
    assert.equal(df(OVERLAY_MTU - 28), 0, `${OVERLAY_MTU - 28} bytes with DF`);
    assert.notEqual(df(OVERLAY_MTU - 27), 0, `${OVERLAY_MTU - 27} bytes with DF`);
  });
});
