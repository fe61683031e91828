// Property-based hostile input against every endpoint (fixed seed, bounded runs): a malformed body
// always gets a non-200 JSON {"Err"}; a well-formed delete of an unknown ID keeps its idempotent 200;
// nothing crashes and neither the store nor the (recorded) kernel changes.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { routeTable } from '../../../src/server/app';
import { ApiFixture, createNetworkBody, NET_ID } from '../../lab';

const SEED = 0x7473_6e65;
const ENDPOINTS = Object.keys(routeTable({} as never));
const NO_ARGUMENT = new Set(['/Plugin.Activate', '/NetworkDriver.GetCapabilities', '/IpamDriver.GetCapabilities', '/IpamDriver.GetDefaultAddressSpaces']);

/** Strings that try to break out of names, paths, shells and parsers. */
const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '', ' ', 'eth0; rm -rf /', '$(reboot)', '`id`', '../../../etc/passwd', 'a/b', 'a b', 'x'.repeat(16), 'x'.repeat(5000),
    '10.0.0.0/33', '10.0.0.300/24', '::g/64', 'fd00::/129', 'zz:zz:zz:zz:zz:zz', '02:42:0a:00:00', '-1', 'NaN', '\u0000', '\u202e',
    'a'.repeat(63), 'A'.repeat(64), 'g'.repeat(64), '0'.repeat(25) + 'X',
  ),
);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const FIELDS = ['NetworkID', 'EndpointID', 'PoolID', 'Address', 'Pool', 'SubPool', 'AddressSpace', 'Options', 'Interface', 'IPv4Data', 'IPv6Data', 'SandboxKey', 'DiscoveryType', 'DiscoveryData', 'V6'];
const hostileBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), hostileValue, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('{', '[]', '"x"', '1', 'null', '{"NetworkID":', '{"a":' + '['.repeat(2000) + ']'.repeat(2000) + '}'),
);

describe('hostile input (fast-check, fixed seed)', function () {
  this.timeout(60_000);
  let fx: ApiFixture;
  before(async () => {
    fx = new ApiFixture();
    await fx.post('NetworkDriver.CreateNetwork', createNetworkBody()).expect(200);
  });
  after(async () => {
    await fx.close();
  });

  it('every endpoint answers every body with JSON, never crashes, and changes nothing on error', async () => {
    const snapshot = () => JSON.stringify([fx.store.range(''), fx.bridge.calls.length]);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), hostileBody, async (endpoint, body) => {
        const before = snapshot();
        const res = await fx.post(endpoint.slice(1), body);
        const reply = JSON.parse(res.text) as Record<string, unknown>;
        assert.equal(typeof reply, 'object');
        if (res.status !== 200) {
          assert.equal(typeof reply.Err, 'string', `${endpoint} ${res.status} without Err`);
          assert.ok((reply.Err as string).length > 0);
          assert.equal(snapshot(), before, `${endpoint} changed state while failing: ${reply.Err}`);
        } else if (!NO_ARGUMENT.has(endpoint)) {
          // A 200 for a hostile body is only acceptable where the body was valid: idempotent deletes of
          // unknown IDs, discovery of non-node types, EndpointOperInfo. None of those may change state.
          assert.equal(snapshot(), before, `${endpoint} accepted ${body.slice(0, 200)} and changed state`);
        }
      }),
      { seed: SEED, numRuns: 600 },
    );
    // Still alive and still serving the network it had.
    const join = await fx.post('NetworkDriver.CreateNetwork', createNetworkBody()).expect(200);
    assert.equal(join.text, '{}');
    assert.ok(fx.driver.network(NET_ID));
  });

  it('well-formed deletes of unknown IDs answer 200 {}', async () => {
    const ids = fc.record({ NetworkID: fc.stringMatching(/^[0-9a-f]{64}$/), EndpointID: fc.stringMatching(/^[0-9a-f]{64}$/) });
    await fc.assert(
      fc.asyncProperty(ids, fc.constantFrom('DeleteNetwork', 'FreeNetwork', 'DeleteEndpoint', 'Leave', 'RevokeExternalConnectivity'), async (body, call) => {
        fc.pre(body.NetworkID !== NET_ID);
        const res = await fx.post(`NetworkDriver.${call}`, body);
        assert.equal(res.status, 200);
        assert.equal(res.text, '{}');
      }),
      { seed: SEED, numRuns: 100 },
    );
    const rel = await fx.post('IpamDriver.ReleaseAddress', { PoolID: 'tsnet-local/10.1.0.0/24', Address: '10.1.0.5' });
    assert.equal(rel.status, 200);
    const relPool = await fx.post('IpamDriver.ReleasePool', { PoolID: 'nope' });
    assert.equal(relPool.status, 200);
  });
});
