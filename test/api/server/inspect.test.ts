// tsnet's read-only API (GET /tsnet/v1/...) and /metrics on the plugin socket's handler, over a fresh store with a
// recording data path: exact views of what the store holds, 404s, and Prometheus counters that move with
// the calls made (parsed with the text-format parser of test/lab).
import assert from 'node:assert/strict';
import { TaskStatus } from '../../../src/model/task-status';
import type { EndpointView, NetworkView, StatusView } from '../../../src/protocol';
import { ApiFixture, createNetworkBody, EP_ID, NET_ID, NET_ID2, parsePromText, sampleValue } from '../../lab';

describe('read-only API and metrics', () => {
  let fx: ApiFixture;
  beforeEach(async () => {
    fx = new ApiFixture();
    await fx.post('NetworkDriver.CreateNetwork', createNetworkBody({}, { 'com.docker.network.driver.mtu': '1400' })).expect(200);
    await fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { Address: '10.99.0.5/24' } }).expect(200);
  });
  afterEach(async () => {
    await fx.close();
  });

  it('GET /tsnet/v1/status: instance, scope, counts, store size, tasks and the firewall layout', async () => {
    const task = new TaskStatus('firewall check');
    task.record(true, 12, 'intact', new Date('2026-01-02T03:04:05Z'));
    fx.introspectionParts.tasks.push(task, new TaskStatus('leak collector'));
    const res = await fx.get('/tsnet/v1/status').expect(200);
    const s = JSON.parse(res.text) as StatusView;
    assert.equal(s.instance, 'tsnet');
    assert.equal(s.scope, 'local');
    assert.equal(s.version, '0.1.0');
    assert.equal(s.stateDir, fx.dir);
    assert.deepEqual(s.counts, { networks: 1, endpoints: 1, pools: 0 });
    assert.ok(s.store.usedBytes > 0 && s.store.fileBytes >= s.store.usedBytes);
    assert.deepEqual(s.tasks, [
      { name: 'firewall check', runs: 1, failures: 0, lastRun: '2026-01-02T03:04:05.000Z', lastMs: 12, ok: true, detail: 'intact' },
      { name: 'leak collector', runs: 0, failures: 0 },
    ]);
    assert.deepEqual(
      s.firewall.hooks.find((h) => h.table === 'filter' && h.chain === 'FORWARD'),
      { table: 'filter', chain: 'FORWARD', spec: '-m comment --comment "tsnet:tsnet:hook" -j TSNET-FWD', placement: 'after-docker-user' },
    );
    assert.ok(s.firewall.chains.some((c) => c.table === 'mangle' && c.chain === 'TSNET-GUARD'));
    assert.equal(s.firewall.ebtablesChain, 'TSNET-EGRESS');
    assert.equal(s.linkMarkerPrefix, 'tsnet:tsnet:');
  });

  it('GET /tsnet/v1/networks and /endpoints: the stored records as views', async () => {
    const nets = JSON.parse((await fx.get('/tsnet/v1/networks').expect(200)).text) as NetworkView[];
    assert.equal(nets.length, 1);
    const n = nets[0]!;
    assert.equal(n.id, NET_ID);
    assert.equal(n.type, 'bridge');
    assert.deepEqual(n.subnets, ['10.99.0.0/24']);
    assert.deepEqual(n.gateways, ['10.99.0.1']);
    assert.equal(n.mtu, 1400);
    assert.equal(n.endpoints, 1);
    assert.equal(n.linkMarker, `tsnet:tsnet:bridge:net:${NET_ID}`);
    const eps = JSON.parse((await fx.get(`/tsnet/v1/endpoints?network=${NET_ID.slice(0, 12)}`).expect(200)).text) as EndpointView[];
    assert.equal(eps.length, 1);
    assert.equal(eps[0]!.id, EP_ID);
    assert.equal(eps[0]!.address, '10.99.0.5/24');
    assert.equal(eps[0]!.joined, false);
    assert.deepEqual(eps[0]!.publishedPorts, []);
    const all = JSON.parse((await fx.get('/tsnet/v1/endpoints').expect(200)).text) as EndpointView[];
    assert.deepEqual(all.map((e) => e.id), [EP_ID]);
  });

  it('an unknown network is a 404 {"Err"}; Docker\'s POST names are untouched; a POST to a read-only path is not served', async () => {
    const res = await fx.get(`/tsnet/v1/endpoints?network=${NET_ID2}`).expect(404);
    assert.match((JSON.parse(res.text) as { Err: string }).Err, /no tsnet network b+/);
    await fx.get('/tsnet/v1/nothing').expect(404);
    await fx.post('tsnet/v1/status').expect(404);
    await fx.get('/NetworkDriver.GetCapabilities').expect(405);
  });

  it('GET /tsnet/v1/peers: what the VXLAN data path reports, filtered by network', async () => {
    fx.introspectionParts.peerList.push({ networkId: NET_ID, address: '192.0.2.7', sources: ['static', 'learned'], dataAddress: '192.0.2.7' });
    const all = JSON.parse((await fx.get('/tsnet/v1/peers').expect(200)).text) as unknown[];
    assert.equal(all.length, 1);
    const one = JSON.parse((await fx.get(`/tsnet/v1/peers?network=${NET_ID.slice(0, 5)}`).expect(200)).text) as unknown[];
    assert.deepEqual(one, all);
  });

  it('GET /metrics parses, and its counters and gauges move with the calls made', async () => {
    const scrape = async () => parsePromText((await fx.get('/metrics').expect(200).expect('Content-Type', /text\/plain/)).text);
    const before = await scrape();
    const created = (m: typeof before) => sampleValue(m, 'tsnet_calls_total', { call: '/NetworkDriver.CreateEndpoint', status: '200' }) ?? 0;
    await fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: 'e'.repeat(64), Interface: { Address: '10.99.0.6/24' } }).expect(200);
    await fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: 'x' }).expect(400);
    await fx.post('Some.Probe').expect(404);
    const after = await scrape();
    assert.equal(created(after) - created(before), 1);
    assert.equal(sampleValue(after, 'tsnet_calls_total', { call: '/NetworkDriver.CreateEndpoint', status: '400' }), 1);
    // Unknown paths share one label value: the label set stays bounded.
    assert.equal(sampleValue(after, 'tsnet_calls_total', { call: 'other', status: '404' }), 1);
    assert.ok((sampleValue(after, 'tsnet_call_duration_seconds_count', { call: '/NetworkDriver.CreateEndpoint' }) ?? 0) >= 2);
    assert.equal(after.get('tsnet_call_duration_seconds')?.type, 'histogram');
    assert.equal(sampleValue(after, 'tsnet_endpoints', { network: NET_ID.slice(0, 12), type: 'bridge' }), 2);
    assert.equal(sampleValue(after, 'tsnet_firewall_repairs_total'), 0);
    assert.equal(sampleValue(after, 'tsnet_leak_collector_releases_total', { object: 'endpoints' }), 0);
    assert.ok(after.has('process_cpu_user_seconds_total'), 'Node process metrics');
    assert.ok(after.has('nodejs_eventloop_lag_seconds'));
    // No label carries an endpoint ID.
    for (const f of after.values()) for (const s of f.samples) for (const v of Object.values(s.labels)) assert.ok(!v.includes('eeeeeeeeeeee'), `${s.name} labelled by endpoint`);
  });

  it('the surface matches paths exactly, as before it was loaded on first use: no /METRICS, no /metrics/, no POST /metrics', async () => {
    await fx.get('/metrics').expect(200);
    for (const path of ['/METRICS', '/metrics/', '/tsnet/v1/status/', '/tsnet/v1/nothing']) {
      const res = await fx.get(path).expect(404);
      assert.match(JSON.parse(res.text).Err, new RegExp(`^unknown endpoint GET ${path.replace(/\//g, '\\/')}: `));
    }
    const post = await fx.post('metrics', {}).expect(404);
    assert.match(JSON.parse(post.text).Err, /^unknown endpoint POST \/metrics: /);
  });

  it('IPAM pools appear as used and free addresses', async () => {
    const pool = JSON.parse((await fx.post('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.50.0.0/29', Options: {}, V6: false }).expect(200)).text) as { PoolID: string };
    await fx.post('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: {} }).expect(200);
    const m = parsePromText((await fx.get('/metrics').expect(200)).text);
    assert.equal(sampleValue(m, 'tsnet_ipam_addresses', { pool: '10.50.0.0/29', state: 'used' }), 1);
    assert.equal(sampleValue(m, 'tsnet_ipam_addresses', { pool: '10.50.0.0/29', state: 'free' }), 5);
  });
});
