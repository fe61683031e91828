// The leak collector against a fake Docker Engine API on a unix socket: endpoints and networks Docker
// no longer lists are released (data path and IPAM) after the grace period, and nothing is touched
// while Docker is unreachable or still lists them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { IpamRelease } from '../../../src/collector/ipam-release';
import { LeakCollector } from '../../../src/collector/leak-collector';
import { DockerApiClient } from '../../../src/docker/api-client';
import { testLogger } from '../../../src/log';
import { ApiFixture, createNetworkBody, EP_ID, EP_ID2, NET_ID } from '../../lab';

describe('leak collector', () => {
  let fx: ApiFixture;
  let docker: http.Server | undefined;
  let dockerSocket: string;
  /** What the fake Docker answers for GET /networks/<id>: endpoint IDs, or undefined for 404. */
  let listed: Record<string, string[] | undefined>;

  beforeEach(async () => {
    fx = new ApiFixture();
    dockerSocket = path.join(fx.dir, 'docker.sock');
    listed = {};
    await fx.post('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.99.0.0/24', SubPool: '', V6: false }).expect(200);
    await fx.post('IpamDriver.RequestAddress', { PoolID: 'tsnet-local/10.99.0.0/24', Address: '10.99.0.1', Options: { RequestAddressType: 'com.docker.network.gateway' } }).expect(200);
    await fx.post('NetworkDriver.CreateNetwork', createNetworkBody()).expect(200);
    for (const [ep, ip] of [[EP_ID, '10.99.0.5'], [EP_ID2, '10.99.0.6']] as const) {
      await fx.post('IpamDriver.RequestAddress', { PoolID: 'tsnet-local/10.99.0.0/24', Address: ip }).expect(200);
      await fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: ep, Interface: { Address: `${ip}/24` } }).expect(200);
    }
  });
  afterEach(async () => {
    await new Promise((r) => (docker ? docker.close(r) : r(undefined)));
    docker = undefined;
    await fx.close();
  });

  function startDocker(): Promise<void> {
    docker = http.createServer((req, res) => {
      const id = decodeURIComponent((req.url ?? '').replace('/networks/', ''));
      const eps = listed[id];
      if (!eps) return void res.writeHead(404).end('{"message":"no such network"}');
      const Containers = Object.fromEntries(eps.map((e, i) => [`c${i}`, { EndpointID: e }]));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Id: id, Containers }));
    });
    return new Promise((r) => docker!.listen(dockerSocket, () => r()));
  }
  const collector = (graceMs: number, bootedAt?: Date) =>
    new LeakCollector(fx.driver, new DockerApiClient(dockerSocket, 1000), new IpamRelease(fx.ipam), testLogger(), { intervalMs: 60_000, graceMs, bootedAt });

  it('releases an endpoint Docker no longer lists once it was missing twice, with its address', async () => {
    await startDocker();
    listed[NET_ID] = [EP_ID];
    const gc = collector(0);
    await gc.runOnce();
    assert.equal(fx.driver.endpoints(NET_ID).length, 2, 'first miss only marks it');
    await gc.runOnce();
    assert.deepEqual(fx.driver.endpoints(NET_ID).map((e) => e.id), [EP_ID]);
    assert.deepEqual(fx.ipam.allocated('tsnet-local/10.99.0.0/24'), ['10.99.0.1', '10.99.0.5']);
    assert.ok(fx.bridge.ops().includes('deleteEndpoint'));
  });

  it('forgets a suspect that Docker then removed the normal way (the set does not grow with churn)', async () => {
    await startDocker();
    listed[NET_ID] = [EP_ID];
    const gc = collector(0);
    await gc.runOnce();
    assert.equal(gc.suspectCount, 1, 'EP_ID2 missed once');
    await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID2 }).expect(200);
    await gc.runOnce();
    assert.equal(gc.suspectCount, 0);
    assert.deepEqual(fx.driver.endpoints(NET_ID).map((e) => e.id), [EP_ID]);
  });

  it('keeps young endpoints (grace period) and everything while Docker is unreachable', async () => {
    listed[NET_ID] = [];
    const gc = collector(3_600_000);
    await gc.runOnce(); // Docker down: nothing happens, nothing throws
    await startDocker();
    await gc.runOnce();
    await gc.runOnce();
    assert.equal(fx.driver.endpoints(NET_ID).length, 2);
  });

  it('after a reboot, endpoints from before are released at the first miss', async () => {
    await startDocker();
    listed[NET_ID] = [];
    await collector(3_600_000, new Date(Date.now() + 1000)).runOnce();
    assert.equal(fx.driver.endpoints(NET_ID).length, 0);
    assert.deepEqual(fx.ipam.allocated('tsnet-local/10.99.0.0/24'), ['10.99.0.1']);
  });

  it('releases nothing when Docker knows none of tsnet\'s networks (wrong daemon?)', async () => {
    await startDocker();
    const gc = collector(0);
    await gc.runOnce();
    await gc.runOnce();
    assert.ok(fx.driver.network(NET_ID));
    assert.equal(fx.driver.endpoints(NET_ID).length, 2);
  });

  it('releases a network Docker no longer has, and its pool', async () => {
    await fx.post('NetworkDriver.CreateNetwork', createNetworkBody({ NetworkID: 'f'.repeat(64), IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.98.0.0/24', Gateway: '10.98.0.1/24' }] })).expect(200);
    listed['f'.repeat(64)] = [];
    await startDocker();
    const gc = collector(0);
    await gc.runOnce();
    await gc.runOnce();
    assert.equal(fx.driver.network(NET_ID), undefined);
    assert.ok(fx.driver.network('f'.repeat(64)), 'the network Docker lists stays');
    assert.deepEqual(fx.ipam.listPools(), []);
    assert.ok(fs.existsSync(fx.dir));
  });
});
