// Real-Docker tier for the leak collector: an endpoint and its address that Docker never knew about
// (as after a crash: calls Docker dropped) are released in the background; Docker's own are kept.
import assert from 'node:assert/strict';
import { dk, eventually, hostIpJson, runSleeper, tsnetAllocations, withTsnetHost } from '../lab';

describe('docker: leak collector', function () {
  const { host } = withTsnetHost('gc', { TSNET_GC_INTERVAL_MS: '300', TSNET_GC_GRACE_MS: '500' });

  it('releases an endpoint and address Docker does not list, keeps the ones it does', async () => {
    const h = host();
    const netId = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.62.0.0/24', 'gcn');
    await runSleeper(h, 'c1', 'gcn');
    const ip1 = await dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.gcn.IPAddress}}', 'c1');
    // A leak: an address and an endpoint made by calls whose caller went away.
    const pool = 'tsnet-local/10.62.0.0/24';
    const leakedEp = 'e'.repeat(64);
    assert.equal((await h.pluginCall('/IpamDriver.RequestAddress', { PoolID: pool, Address: '10.62.0.200' })).status, 200);
    assert.equal((await h.pluginCall('/NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: leakedEp, Interface: { Address: '10.62.0.200/24' } })).status, 200);
    const vethOf = async () => (await hostIpJson(h, 'link', 'show')).map((l: any) => l.ifname).filter((n: string) => n === `tsv${leakedEp.slice(0, 12)}`);
    assert.equal((await vethOf()).length, 1);
    assert.ok(tsnetAllocations(h).includes('10.62.0.200'));
    await eventually(() => assert.ok(!tsnetAllocations(h).includes('10.62.0.200'), 'leaked address released'), { timeout: 15_000, interval: 250, what: 'the leak collector releasing 10.62.0.200' });
    assert.deepEqual(await vethOf(), [], 'leaked veth removed');
    assert.ok(tsnetAllocations(h).includes(ip1), "the running container's address is kept");
    await dk(h, 'exec', 'c1', 'ping', '-c', '1', '-W', '2', '10.62.0.1');
    assert.match(h.tsnetLog(), /released an endpoint Docker no longer lists/);
    await dk(h, 'rm', '-f', 'c1');
    await dk(h, 'network', 'rm', 'gcn');
  });
});
