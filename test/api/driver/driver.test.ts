import assert from 'node:assert/strict';
import type { DataPath } from '../../../src/datapath/datapath';
import { NetworkDriver } from '../../../src/driver/driver';
import { testLogger } from '../../../src/log';
import { kindOf } from '../../../src/model/errors';
import type { NetworkType } from '../../../src/model/records';
import { knownNetworkIds } from '../../../src/swarm/known-networks';
import { ApiFixture, createNetworkBody, EP_ID, EP_ID2, NET_ID, NET_ID2, SWARM_NET_ID } from '../../lab';

const MEDIA_TYPE = /^application\/vnd\.docker\.plugins\.v1\.2\+json/;

describe('NetworkDriver protocol (supertest, recording data path)', () => {
  let fx: ApiFixture;
  beforeEach(() => {
    fx = new ApiFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  async function createNetwork(body = createNetworkBody()): Promise<void> {
    await fx.post('NetworkDriver.CreateNetwork', body).expect(200, {});
  }
  function createEndpoint(iface: Record<string, string> = { Address: '10.99.0.5/24', AddressIPv6: '', MacAddress: '' }, options: Record<string, unknown> = {}, epId = EP_ID) {
    return fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: epId, Interface: iface, Options: options });
  }

  describe('handshake', () => {
    it('Plugin.Activate with no body and no content type lists both subsystems', async () => {
      const res = await fx.post('Plugin.Activate').expect(200);
      assert.deepEqual(res.body, undefined === res.body ? {} : JSON.parse(res.text));
      assert.deepEqual(JSON.parse(res.text), { Implements: ['NetworkDriver', 'IpamDriver'] });
      assert.match(res.headers['content-type']!, MEDIA_TYPE);
    });
    it('GetCapabilities answers local scope', async () => {
      const res = await fx.post('NetworkDriver.GetCapabilities').expect(200);
      assert.deepEqual(JSON.parse(res.text), { Scope: 'local', ConnectivityScope: 'local' });
    });
    it('an unknown path gets a clear 404 error', async () => {
      const res = await fx.post('NetworkDriver.Frobnicate', {}).expect(404);
      assert.deepEqual(JSON.parse(res.text), {
        Err: 'unknown endpoint POST /NetworkDriver.Frobnicate: tsnet serves the libnetwork NetworkDriver and IpamDriver protocols',
      });
    });
    it('GET is refused', async () => {
      const res = await import('supertest').then((s) => s.default(fx.app).get('/Plugin.Activate')).then((r) => r);
      assert.equal(res.status, 405);
      assert.deepEqual(JSON.parse(res.text), { Err: '/Plugin.Activate takes POST, not GET' });
    });
    it('malformed JSON is a 400 with the parser message', async () => {
      const res = await fx.post('NetworkDriver.CreateNetwork', '{"NetworkID": ').expect(400);
      assert.match(JSON.parse(res.text).Err, /^malformed JSON body: /);
    });
    it('a JSON array body is refused', async () => {
      const res = await fx.post('NetworkDriver.CreateNetwork', '[1,2]').expect(400);
      assert.deepEqual(JSON.parse(res.text), { Err: 'request body must be a JSON object' });
    });
    it('a body over 1 MiB is refused with 413', async () => {
      const res = await fx.post('NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: NET_ID, pad: 'x'.repeat(1024 * 1024) })).expect(413);
      assert.deepEqual(JSON.parse(res.text), { Err: 'request body larger than 1048576 bytes' });
      assert.deepEqual(fx.bridge.calls, []);
    });
  });

  describe('CreateNetwork', () => {
    it('creates a bridge network and records it', async () => {
      await createNetwork();
      assert.deepEqual(fx.bridge.ops(), ['createNetwork']);
      const net = fx.driver.network(NET_ID)!;
      assert.equal(net.type, 'bridge');
      assert.deepEqual(net.ipv4, [{ addressSpace: 'tsnet-local', pool: '10.99.0.0/24', gateway: '10.99.0.1/24', auxAddresses: {} }]);
      assert.deepEqual(net.datapath, { bridgeName: `ts-${NET_ID.slice(0, 10)}` });
    });
    it('accepts a 25-character Swarm network ID', async () => {
      await createNetwork(createNetworkBody({ NetworkID: SWARM_NET_ID }));
      assert.ok(fx.driver.network(SWARM_NET_ID));
    });
    it('an identical repeat returns the first result without touching the kernel again', async () => {
      await createNetwork();
      await createNetwork();
      assert.deepEqual(fx.bridge.ops(), ['createNetwork']);
    });
    it('a conflicting repeat is a 409', async () => {
      await createNetwork();
      const res = await fx
        .post('NetworkDriver.CreateNetwork', createNetworkBody({ IPv4Data: [{ AddressSpace: 'x', Pool: '10.98.0.0/24', Gateway: '10.98.0.1/24' }] }))
        .expect(409);
      assert.deepEqual(JSON.parse(res.text), { Err: `network ${NET_ID} already exists with different settings` });
    });
    it('picks the data path from -o type (overlay is vxlan)', async () => {
      await createNetwork(createNetworkBody({}, { type: 'overlay' }));
      assert.deepEqual(fx.datapaths.get('vxlan')!.ops(), ['createNetwork']);
      assert.deepEqual(fx.bridge.ops(), []);
    });
    const invalid: Array<[string, Record<string, unknown>, number, string]> = [
      ['a missing NetworkID', { Options: {} }, 400, 'invalid request: NetworkID: is required'],
      ['a short NetworkID', { NetworkID: 'abc' }, 400, 'invalid request: NetworkID: must be 64 hex characters (local network) or a 25-character Swarm network ID'],
      ['a numeric NetworkID', { NetworkID: 5 }, 400, 'invalid request: NetworkID: must be a string'],
      ['a malformed pool', { NetworkID: NET_ID, IPv4Data: [{ Pool: '10.0.0.300/24' }] }, 400, 'invalid request: IPv4Data.0.Pool: must be an address in CIDR form (ip/len)'],
      ['Options not an object', { NetworkID: NET_ID, Options: 'x' }, 400, 'invalid request: Options: must be an object'],
      ['an IPv6 pool in IPv4Data', { NetworkID: NET_ID, IPv4Data: [{ Pool: 'fd00::/64' }] }, 400, 'IPv4Data pool fd00::/64 is not an IPv4 subnet'],
      ['a gateway outside the pool', { NetworkID: NET_ID, IPv4Data: [{ Pool: '10.1.0.0/24', Gateway: '10.2.0.1/24' }] }, 400, 'address 10.2.0.1/24 is outside pool 10.1.0.0/24'],
      ['an unknown option', createNetworkBody({}, { frob: '1' }), 400, "unknown option frob (see the option table in tsnet's README)"],
      ['an option of another type', createNetworkBody({}, { parent: 'eth0' }), 400, 'option parent does not apply to bridge networks (only to macvlan)'],
      ['a bad type', createNetworkBody({}, { type: 'ipvlan' }), 400, 'option type: "ipvlan" is not one of bridge, macvlan, vxlan, overlay'],
      ['a bad MTU', createNetworkBody({}, { 'com.docker.network.driver.mtu': 'big' }), 400, 'option com.docker.network.driver.mtu: "big" is not a whole number in 68-65535'],
      ['a bridge name with a slash', createNetworkBody({}, { 'com.docker.network.bridge.name': 'br/0' }), 400, 'option com.docker.network.bridge.name: "br/0" is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -)'],
      ['a too long bridge name', createNetworkBody({}, { 'com.docker.network.bridge.name': 'abcdefghijklmnop' }), 400, 'option com.docker.network.bridge.name: "abcdefghijklmnop" is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -)'],
      ['a non-boolean icc', createNetworkBody({}, { 'com.docker.network.bridge.enable_icc': 'maybe' }), 400, 'option com.docker.network.bridge.enable_icc: "maybe" is not true or false'],
    ];
    for (const [what, body, status, err] of invalid) {
      it(`refuses ${what} and changes nothing`, async () => {
        const res = await fx.post('NetworkDriver.CreateNetwork', body).expect(status);
        assert.deepEqual(JSON.parse(res.text), { Err: err });
        assert.deepEqual(fx.bridge.calls, []);
        assert.deepEqual(fx.driver.networks(), []);
      });
    }
    it("refuses the literal pool 0.0.0.0/24 Docker 28.5.2's default IPAM sends for --subnet 0.0.0.0/24, naming it and the way out (issue 14)", async () => {
      // Verbatim from 28.5.2 (logging proxy): `docker network create -d tsnet --subnet 0.0.0.0/24 z4`.
      const body = {
        NetworkID: NET_ID,
        Options: { 'com.docker.network.enable_ipv4': true, 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
        IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: '0.0.0.1/24', Pool: '0.0.0.0/24' }],
        IPv6Data: [],
      };
      const res = await fx.post('NetworkDriver.CreateNetwork', body).expect(400);
      assert.deepEqual(JSON.parse(res.text), {
        Err:
          'pool 0.0.0.0/24 overlaps the unspecified range ("this network") 0.0.0.0/8, which no network may use; ' +
          "Docker's default IPAM passes --subnet 0.0.0.0/24 on as that literal subnet: give a real subnet, or use --ipam-driver tsnet, which takes it as any free /24",
      });
      const v6 = { ...body, Options: { ...body.Options, 'com.docker.network.enable_ipv6': true }, IPv4Data: [], IPv6Data: [{ AddressSpace: 'LocalDefault', Gateway: '::1/96', Pool: '::/96' }] };
      const res6 = await fx.post('NetworkDriver.CreateNetwork', v6).expect(400);
      assert.match(JSON.parse(res6.text).Err, /^pool ::\/96 overlaps the unspecified address ::\/128, which no network may use; .* any free \/96$/);
      const loopback = await fx.post('NetworkDriver.CreateNetwork', { ...body, IPv4Data: [{ Pool: '127.1.0.0/24', Gateway: '127.1.0.1/24' }] }).expect(400);
      assert.deepEqual(JSON.parse(loopback.text), { Err: 'pool 127.1.0.0/24 overlaps the loopback range 127.0.0.0/8, which no network may use' });
      assert.deepEqual(fx.bridge.calls, []);
      assert.deepEqual(fx.driver.networks(), []);
    });
    it("creates an IPv6-only network as Docker 28.5.2 sends it (--ipv4=false --ipv6: IPv4Data empty) (issue 14)", async () => {
      await createNetwork({
        NetworkID: NET_ID,
        Options: { 'com.docker.network.enable_ipv4': false, 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': {} },
        IPv4Data: [],
        IPv6Data: [{ AddressSpace: 'LocalDefault', Gateway: 'fd10:1::1/64', Pool: 'fd10:1::/64' }],
      });
      await createEndpoint({ Address: '', AddressIPv6: 'fd10:1::2/64', MacAddress: '' }).expect(200);
      const join = await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/var/run/docker/netns/x' }).expect(200);
      const reply = JSON.parse(join.text);
      assert.equal(reply.GatewayIPv6, 'fd10:1::1');
      assert.equal(reply.Gateway, undefined, 'no IPv4 gateway');
      assert.deepEqual(fx.driver.network(NET_ID)!.ipv4, []);
    });
    it('ignores Docker-internal com.docker.network.* keys', async () => {
      await createNetwork(createNetworkBody({}, { 'com.docker.network.bridge.inhibit_ipv4': 'false' }));
      assert.ok(fx.driver.network(NET_ID));
    });
    it('a data-path failure is a 500 and stores nothing', async () => {
      fx.bridge.failNext.createNetwork = 'interface br0 already exists and is not managed by tsnet';
      const res = await fx.post('NetworkDriver.CreateNetwork', createNetworkBody()).expect(500);
      assert.deepEqual(JSON.parse(res.text), { Err: 'interface br0 already exists and is not managed by tsnet' });
      assert.equal(fx.driver.network(NET_ID), undefined);
    });
    it('refuses a bridge name another tsnet network uses', async () => {
      await createNetwork(createNetworkBody({}, { 'com.docker.network.bridge.name': 'br-shared' }));
      const res = await fx
        .post('NetworkDriver.CreateNetwork', createNetworkBody({ NetworkID: NET_ID2 }, { 'com.docker.network.bridge.name': 'br-shared' }))
        .expect(409);
      assert.deepEqual(JSON.parse(res.text), { Err: `bridge name br-shared is already used by tsnet network ${NET_ID}` });
    });
  });

  describe('DeleteNetwork / AllocateNetwork / FreeNetwork', () => {
    it('deletes a network', async () => {
      await createNetwork();
      await fx.post('NetworkDriver.DeleteNetwork', { NetworkID: NET_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'deleteNetwork']);
      assert.equal(fx.driver.network(NET_ID), undefined);
    });
    it('an unknown or repeated delete answers 200 {}', async () => {
      await fx.post('NetworkDriver.DeleteNetwork', { NetworkID: NET_ID }).expect(200, {});
      await fx.post('NetworkDriver.FreeNetwork', { NetworkID: SWARM_NET_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.calls, []);
    });
    it('a malformed delete is still a 400', async () => {
      const res = await fx.post('NetworkDriver.DeleteNetwork', { NetworkID: 'zz' }).expect(400);
      assert.match(JSON.parse(res.text).Err, /^invalid request: NetworkID: /);
    });
    it('AllocateNetwork echoes the options; a replay returns the same', async () => {
      const body = { NetworkID: SWARM_NET_ID, Options: { 'com.docker.network.driver.mtu': '1400' }, IPv4Data: [{ AddressSpace: '', Pool: '10.5.0.0/24', Gateway: '10.5.0.1/24' }], IPv6Data: null };
      const first = await fx.post('NetworkDriver.AllocateNetwork', body).expect(200);
      assert.deepEqual(JSON.parse(first.text), { Options: { 'com.docker.network.driver.mtu': '1400' } });
      const second = await fx.post('NetworkDriver.AllocateNetwork', body).expect(200);
      assert.deepEqual(JSON.parse(second.text), JSON.parse(first.text));
      // A bridge network has no VNI: the manager still knows it is tsnet's (the VIP-mode check needs that).
      assert.deepEqual(knownNetworkIds(fx.driver), [SWARM_NET_ID]);
      await fx.post('NetworkDriver.FreeNetwork', { NetworkID: SWARM_NET_ID }).expect(200, {});
      assert.deepEqual(knownNetworkIds(fx.driver), []);
    });
    it('AllocateNetwork refuses an unknown option', async () => {
      const res = await fx.post('NetworkDriver.AllocateNetwork', { NetworkID: SWARM_NET_ID, Options: { bogus: '1' } }).expect(400);
      assert.deepEqual(JSON.parse(res.text), { Err: "unknown option bogus (see the option table in tsnet's README)" });
    });
  });

  describe('endpoints', () => {
    beforeEach(() => createNetwork());

    it('CreateEndpoint returns a MAC derived from the IPv4 address when Docker gave none', async () => {
      const res = await createEndpoint().expect(200);
      assert.deepEqual(JSON.parse(res.text), { Interface: { MacAddress: '02:42:0a:63:00:05' } });
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint']);
    });
    it('CreateEndpoint returns nothing for a MAC Docker already has', async () => {
      const res = await createEndpoint({ Address: '10.99.0.5/24', AddressIPv6: '', MacAddress: '02:11:22:33:44:55' }).expect(200);
      assert.deepEqual(JSON.parse(res.text), { Interface: {} });
      assert.equal(fx.driver.endpoints(NET_ID)[0]!.macAddress, '02:11:22:33:44:55');
    });
    it('CreateEndpoint takes the user MAC from the base64 endpoint option', async () => {
      const res = await createEndpoint(undefined, { 'com.docker.network.endpoint.macaddress': 'AkIKYwAH' }).expect(200);
      assert.deepEqual(JSON.parse(res.text), { Interface: { MacAddress: '02:42:0a:63:00:07' } });
    });
    it('CreateEndpoint keeps the port mappings', async () => {
      const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }];
      await createEndpoint(undefined, { 'com.docker.network.portmap': portmap, 'com.docker.network.endpoint.exposedports': [{ Proto: 6, Port: 80 }] }).expect(200);
      assert.deepEqual(fx.driver.endpoints(NET_ID)[0]!.portBindings, portmap);
    });
    const invalid: Array<[string, Record<string, unknown>, number, string]> = [
      ['a bad MAC', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { MacAddress: 'zz:zz' } }, 400, 'invalid request: Interface.MacAddress: must be empty or a MAC address aa:bb:cc:dd:ee:ff'],
      ['a bad address', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { Address: '10.99.0.5' } }, 400, 'invalid request: Interface.Address: must be empty or an address in CIDR form (ip/len)'],
      ['a missing EndpointID', { NetworkID: NET_ID, Interface: {} }, 400, 'invalid request: EndpointID: is required'],
      ['an address outside the network', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { Address: '10.1.0.5/24' } }, 400, "Interface.Address: 10.1.0.5/24 is not inside the network's subnets (10.99.0.0/24)"],
      ['an unknown network', { NetworkID: NET_ID2, EndpointID: EP_ID, Interface: {} }, 404, `network ${NET_ID2} not found`],
      ['a bad base64 MAC option', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: {}, Options: { 'com.docker.network.endpoint.macaddress': '!!' } }, 400, 'Options.com.docker.network.endpoint.macaddress: must be the base64 of 6 MAC bytes'],
      ['a bad port map', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: {}, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 99999 }] } }, 400, 'Options.com.docker.network.portmap: 0.Port: Too big: expected number to be <=65535; 0.HostPort: is required; 0.HostPortEnd: is required'],
    ];
    for (const [what, body, status, err] of invalid) {
      it(`CreateEndpoint refuses ${what} and changes nothing`, async () => {
        const res = await fx.post('NetworkDriver.CreateEndpoint', body).expect(status);
        assert.deepEqual(JSON.parse(res.text), { Err: err });
        assert.deepEqual(fx.bridge.ops(), ['createNetwork']);
        assert.deepEqual(fx.driver.endpoints(), []);
      });
    }
    it('CreateEndpoint repeated identically answers the same; conflicting is a 409', async () => {
      const first = await createEndpoint().expect(200);
      const again = await createEndpoint().expect(200);
      assert.equal(again.text, first.text);
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint']);
      const res = await createEndpoint({ Address: '10.99.0.6/24' }).expect(409);
      assert.deepEqual(JSON.parse(res.text), { Err: `endpoint ${EP_ID} already exists with different settings` });
    });
    it('Join returns the interface, prefix and gateway; Leave and DeleteEndpoint undo', async () => {
      await createEndpoint().expect(200);
      const join = await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/var/run/docker/netns/abc', Options: {} }).expect(200);
      assert.deepEqual(JSON.parse(join.text), { InterfaceName: { SrcName: `tsc${EP_ID.slice(0, 10)}`, DstPrefix: 'eth' }, Gateway: '10.99.0.1' });
      await fx.post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID, Options: {} }).expect(200, {});
      const info = await fx.post('NetworkDriver.EndpointOperInfo', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200);
      assert.deepEqual(JSON.parse(info.text), { Value: {} });
      await fx.post('NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      await fx.post('NetworkDriver.Leave', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint', 'join', 'programExternalConnectivity', 'revokeExternalConnectivity', 'leave', 'deleteEndpoint']);
      assert.deepEqual(fx.driver.endpoints(), []);
    });
    it('DeleteEndpoint answers before the links are deleted; DeleteNetwork runs after them', async () => {
      await createEndpoint().expect(200);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const original = fx.bridge.deleteEndpoint.bind(fx.bridge);
      fx.bridge.deleteEndpoint = async (net, ep) => {
        await held;
        return original(net, ep);
      };
      await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      assert.deepEqual(fx.driver.endpoints(), [], 'the record is gone when Docker is answered');
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint'], 'the links are not deleted yet');
      const deleting = fx.post('NetworkDriver.DeleteNetwork', { NetworkID: NET_ID }).expect(200, {}).then(() => fx.bridge.ops());
      await new Promise((r) => setTimeout(r, 20));
      release();
      assert.deepEqual(await deleting, ['createNetwork', 'createEndpoint', 'deleteEndpoint', 'deleteNetwork'], 'DeleteNetwork after the queued link deletion');
      fx.bridge.deleteEndpoint = original;
      await fx.driver.settle();
    });
    it('DeleteEndpoint whose link deletion fails afterwards still answered 200: the record was committed gone first', async () => {
      await createEndpoint().expect(200);
      fx.bridge.failNext.deleteEndpoint = 'link busy';
      await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      await fx.driver.settle();
      assert.deepEqual(fx.driver.endpoints(), []);
      await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
    });
    it('ProgramExternalConnectivity repeated without a Revoke answers 200 each time and keeps one record (Docker 29, issue 14)', async () => {
      await createEndpoint(undefined, { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }] }).expect(200);
      await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/var/run/docker/netns/abc' }).expect(200);
      const program = { NetworkID: NET_ID, EndpointID: EP_ID, Options: { 'com.docker.network.driver.private.no_proxy_6to4': false } };
      await fx.post('NetworkDriver.ProgramExternalConnectivity', program).expect(200, {});
      await fx.post('NetworkDriver.ProgramExternalConnectivity', program).expect(200, {});
      assert.deepEqual(fx.driver.endpoints().map((e) => [e.id, e.externalConnectivity]), [[EP_ID, true]]);
      // The data path is asked each time; keeping what is published is its part (endpoint-ports.ts).
      assert.deepEqual(fx.bridge.ops().filter((op) => op === 'programExternalConnectivity').length, 2);
    });
    it('Leave without a Revoke first releases the published ports; after a Revoke it does not revoke again (issue 14)', async () => {
      await createEndpoint().expect(200);
      await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/var/run/docker/netns/abc' }).expect(200);
      await fx.post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      await fx.post('NetworkDriver.Leave', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.ops().slice(-2), ['leave', 'revokeExternalConnectivity']);
      const [ep] = fx.driver.endpoints(NET_ID);
      assert.equal(ep!.externalConnectivity, false, 'a restart must not republish them');
      assert.equal(ep!.sandboxKey, undefined);
      await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.ops().slice(-1), ['deleteEndpoint'], 'DeleteEndpoint finds nothing left to revoke');

      await createEndpoint(undefined, {}, EP_ID2).expect(200);
      await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID2, SandboxKey: '/var/run/docker/netns/def' }).expect(200);
      await fx.post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID2 }).expect(200, {});
      await fx.post('NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID2 }).expect(200, {});
      await fx.post('NetworkDriver.Leave', { NetworkID: NET_ID, EndpointID: EP_ID2 }).expect(200, {});
      assert.deepEqual(fx.bridge.ops().slice(-3), ['programExternalConnectivity', 'revokeExternalConnectivity', 'leave']);
    });
    it('DeleteEndpoint without Revoke or Leave releases the published ports', async () => {
      await createEndpoint().expect(200);
      await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/x' }).expect(200);
      await fx.post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      await fx.post('NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.ops().slice(-2), ['revokeExternalConnectivity', 'deleteEndpoint']);
      assert.deepEqual(fx.driver.endpoints(), []);
    });
    it("accepts the endpoint options Docker 28 sends (sysctls, ifname) and Program's no_proxy_6to4 (issue 14)", async () => {
      // As Docker 28.5.2 sends them for --network name=n,driver-opt=com.docker.network.endpoint.sysctls=...
      // and ...endpoint.ifname=foo0: Docker applies the sysctls itself, and names no remote driver's interface.
      const options = {
        'com.docker.network.endpoint.exposedports': [],
        'com.docker.network.endpoint.sysctls': 'net.ipv4.conf.ifname.forwarding=1',
        'com.docker.network.endpoint.ifname': 'foo0',
        'com.docker.network.portmap': [],
      };
      await createEndpoint(undefined, options).expect(200);
      await createEndpoint(undefined, options).expect(200); // and a repeat is the same endpoint
      const join = { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/x', Options: { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] } };
      await fx.post('NetworkDriver.Join', join).expect(200);
      await fx.post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID, Options: { 'com.docker.network.driver.private.no_proxy_6to4': false, ...options } }).expect(200, {});
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint', 'join', 'programExternalConnectivity']);
    });
    it('Join on an internal network returns no gateway', async () => {
      await createNetwork(createNetworkBody({ NetworkID: NET_ID2, Options: { 'com.docker.network.internal': true, 'com.docker.network.generic': {} } }));
      await fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID2, EndpointID: EP_ID2, Interface: { Address: '10.99.0.9/24' } }).expect(200);
      const join = await fx.post('NetworkDriver.Join', { NetworkID: NET_ID2, EndpointID: EP_ID2, SandboxKey: '/x' }).expect(200);
      assert.deepEqual(JSON.parse(join.text), { InterfaceName: { SrcName: `tsc${EP_ID2.slice(0, 10)}`, DstPrefix: 'eth' } });
    });
    it('Join for an unknown endpoint is a 404 error; SandboxKey is required', async () => {
      const res = await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID2, SandboxKey: '/x' }).expect(404);
      assert.deepEqual(JSON.parse(res.text), { Err: `endpoint ${EP_ID2} not found in network ${NET_ID}` });
      const bad = await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID }).expect(400);
      assert.deepEqual(JSON.parse(bad.text), { Err: 'invalid request: SandboxKey: is required' });
    });
    it('ProgramExternalConnectivity for an unknown endpoint is a 500, never a 404 (Docker reads 404 as success)', async () => {
      const res = await fx.post('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP_ID2 }).expect(500);
      assert.deepEqual(JSON.parse(res.text), { Err: `endpoint ${EP_ID2} not found in network ${NET_ID}` });
    });
    it('delete-type calls for unknown endpoints answer 200 {}; EndpointOperInfo always 200', async () => {
      for (const call of ['Leave', 'DeleteEndpoint', 'RevokeExternalConnectivity']) {
        await fx.post(`NetworkDriver.${call}`, { NetworkID: NET_ID2, EndpointID: EP_ID2 }).expect(200, {});
      }
      const info = await fx.post('NetworkDriver.EndpointOperInfo', { NetworkID: NET_ID2, EndpointID: EP_ID2 }).expect(200);
      assert.deepEqual(JSON.parse(info.text), { Value: {} });
      assert.deepEqual(fx.bridge.ops(), ['createNetwork']);
    });
    it('DeleteNetwork removes endpoints Docker never deleted', async () => {
      await createEndpoint().expect(200);
      await fx.post('NetworkDriver.DeleteNetwork', { NetworkID: NET_ID }).expect(200, {});
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint', 'deleteEndpoint', 'deleteNetwork']);
      assert.deepEqual(fx.driver.endpoints(), []);
    });
  });

  describe('discovery', () => {
    it('DiscoverNew / DiscoverDelete persist the peer and tell every data path', async () => {
      const body = { DiscoveryType: 1, DiscoveryData: { Address: '10.200.0.2', BindAddress: '', Self: false } };
      await fx.post('NetworkDriver.DiscoverNew', body).expect(200, {});
      assert.deepEqual(fx.driver.peers(), [{ address: '10.200.0.2', bindAddress: '', self: false }]);
      await fx.post('NetworkDriver.DiscoverDelete', body).expect(200, {});
      assert.deepEqual(fx.driver.peers(), []);
      assert.deepEqual(fx.bridge.ops(), ['discoverNew', 'discoverDelete']);
    });
    it("DiscoverNew Self tells the node's own Swarm identity (onSelf), at once and again at reconcile after a restart", async () => {
      await fx.post('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '10.200.0.3', BindAddress: '', Self: false } }).expect(200, {});
      assert.deepEqual(fx.selves, [], 'another node is not this one');
      const self = { address: '10.222.0.2', bindAddress: '10.221.0.2', self: true };
      await fx.post('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: self.address, BindAddress: self.bindAddress, Self: true } }).expect(200, {});
      assert.deepEqual(fx.selves, [self]);
      await fx.restart();
      await fx.driver.reconcile();
      assert.deepEqual(fx.selves, [self, self], 'Docker does not replay it: the stored one');
    });
    it('keeps at most maxPeers nodes: a new one beyond is an {"Err"}, a known one is still accepted', async () => {
      const driver = new NetworkDriver(fx.store, new Map<NetworkType, DataPath>(fx.datapaths), testLogger(), { scope: 'global', maxPeers: 3 });
      const node = (i: number) => ({ DiscoveryType: 1, DiscoveryData: { Address: `10.200.0.${i}`, BindAddress: '', Self: false } });
      for (const i of [1, 2, 3]) await driver.discoverNew(node(i));
      await assert.rejects(driver.discoverNew(node(4)), (err: Error) => kindOf(err) === 'unavailable' && /3 Swarm nodes are known already/.test(err.message));
      await driver.discoverNew(node(2));
      assert.deepEqual(driver.peers().map((p) => p.address), ['10.200.0.1', '10.200.0.2', '10.200.0.3']);
      await driver.discoverDelete(node(1));
      await driver.discoverNew(node(4));
      assert.equal(driver.peers().length, 3);
    });
    it('ignores discovery types other than nodes', async () => {
      await fx.post('NetworkDriver.DiscoverNew', { DiscoveryType: 2, DiscoveryData: null }).expect(200, {});
      assert.deepEqual(fx.bridge.calls, []);
    });
    it('refuses a malformed address', async () => {
      const res = await fx.post('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: 'nope' } }).expect(400);
      assert.deepEqual(JSON.parse(res.text), { Err: 'invalid request: DiscoveryData.Address: must be an IP address' });
    });
  });

  describe('restart', () => {
    it('a daemon over the same state answers for its networks and endpoints', async () => {
      await createNetwork();
      await createEndpoint().expect(200);
      await fx.restart();
      await createNetwork();
      const join = await fx.post('NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: '/x' }).expect(200);
      assert.equal(JSON.parse(join.text).Gateway, '10.99.0.1');
      assert.deepEqual(fx.bridge.ops(), ['createNetwork', 'createEndpoint', 'join']);
    });
  });

  describe('concurrency', () => {
    it('calls for one network are serialised: 40 parallel endpoints all land', async () => {
      await createNetwork();
      const ids = Array.from({ length: 40 }, (_, i) => (i + 16).toString(16).padStart(64, 'e'));
      await Promise.all(ids.map((id, i) => createEndpoint({ Address: `10.99.0.${i + 10}/24` }, {}, id).expect(200)));
      assert.equal(fx.driver.endpoints(NET_ID).length, 40);
    });
  });
});
