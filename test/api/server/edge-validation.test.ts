/**
 * Every value that would reach a netlink name, an iptables argument or a stored record is checked when
 * the request arrives (issue 12, item 6): IPv6 zone IDs and interface names outside the accepted
 * character set are refused with a 400 naming the field, before any data-path call.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ApiFixture, createNetworkBody, EP_ID, NET_ID } from '../../lab';

const SEED = 4242;
/** A zone ID as a user might paste one: "%eth0", "%25", "%x"... */
const zone = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);

describe('edge validation: zone IDs and names (fast-check, fixed seed)', () => {
  let fx: ApiFixture;
  beforeEach(() => {
    fx = new ApiFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('an IPv6 address with a zone ID is refused in every field that takes an address, and nothing is made', async () => {
    await fx.post('NetworkDriver.CreateNetwork', createNetworkBody({ IPv6Data: [{ Pool: 'fd00:1::/64' }] })).expect(200);
    const callsBefore = fx.bridge.calls.length;
    await fc.assert(
      fc.asyncProperty(zone, async (z) => {
        const checks: Array<[string, Record<string, unknown>, RegExp]> = [
          [
            'NetworkDriver.CreateEndpoint',
            { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { Address: '', AddressIPv6: `fd00:1::5%${z}/64`, MacAddress: '' } },
            /^invalid request: Interface\.AddressIPv6: must be empty or an address in CIDR form/,
          ],
          ['NetworkDriver.CreateNetwork', createNetworkBody({ NetworkID: 'b'.repeat(64), IPv6Data: [{ Pool: `fe80::%${z}/64` }] }), /^invalid request: IPv6Data\.0\.Pool: /],
          ['NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: `fe80::1%${z}`, Self: false } }, /^invalid request: DiscoveryData\.Address: must be an IP address/],
          ['IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: `fd00:2::%${z}/64`, V6: true }, /^invalid request: Pool: /],
          ['IpamDriver.ReleaseAddress', { PoolID: 'tsnet-local/fd00:2::/64', Address: `fd00:2::1%${z}` }, /^invalid request: Address: must be an IP address/],
        ];
        for (const [endpoint, body, err] of checks) {
          const res = await fx.post(endpoint, body);
          assert.equal(res.status, 400, `${endpoint} ${JSON.stringify(body)}: ${res.text}`);
          assert.match(JSON.parse(res.text).Err, err);
        }
      }),
      { seed: SEED, numRuns: 50 },
    );
    assert.equal(fx.bridge.calls.length, callsBefore, 'no data-path call for a refused request');
    assert.equal(fx.driver.endpoints(NET_ID).length, 0);
    assert.deepEqual(fx.driver.peers(), []);
  });

  it('a bridge name or parent with a character outside A-Z a-z 0-9 _ . - is refused with the option named', async () => {
    const outside = fc
      .tuple(fc.stringMatching(/^[a-z]{1,6}$/), fc.constantFrom('@', '+', '%', ':', '/', ' ', '*', '!', '\u00e9'), fc.stringMatching(/^[a-z0-9]{0,6}$/))
      .map(([a, c, b]) => `${a}${c}${b}`);
    await fc.assert(
      fc.asyncProperty(outside, fc.constantFrom('com.docker.network.bridge.name', 'parent'), async (name, key) => {
        const generic: Record<string, string> = key === 'parent' ? { type: 'macvlan', parent: name } : { [key]: name };
        const res = await fx.post('NetworkDriver.CreateNetwork', createNetworkBody({}, generic));
        assert.equal(res.status, 400, res.text);
        assert.match(JSON.parse(res.text).Err, new RegExp(`^option ${key.replace(/\./g, '\\.')}: `));
      }),
      { seed: SEED, numRuns: 100 },
    );
    assert.deepEqual(fx.bridge.calls, []);
    assert.deepEqual(fx.driver.networks(), []);
  });
});
