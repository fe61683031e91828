import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { dockerSocketOf, parseArgs, UsageError } from '../../../src/cli/args';
import type { NamedEndpoint } from '../../../src/cli/commands/endpoints';
import { formatNetworks } from '../../../src/cli/commands/networks';
import { formatPeers } from '../../../src/cli/commands/peers';
import { formatPorts, portRows } from '../../../src/cli/commands/ports';
import { portLine } from '../../../src/cli/ports';
import { findSocket, SocketNotFoundError } from '../../../src/cli/socket';
import { formatBytes, formatDuration, formatFields, formatTable } from '../../../src/cli/table';
import type { NetworkView } from '../../../src/protocol';

describe('tsnet command: output and arguments', () => {
  it('formatTable pads columns like docker (3 spaces, last column unpadded, "-" for empty)', () => {
    assert.equal(
      formatTable(['network id', 'name', 'vni'], [['abc', 'n1', 42], ['abcdef', undefined, undefined]]),
      'NETWORK ID   NAME   VNI\n' + 'abc          n1     42\n' + 'abcdef       -      -\n',
    );
  });

  it('formatFields aligns values; bytes and durations read as people write them', () => {
    assert.equal(formatFields([['Version', '0.1.0'], ['State directory', '/var/lib/tsnet']]), 'Version:          0.1.0\nState directory:  /var/lib/tsnet\n');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 * 1024 * 1024), '5.0 GiB');
    assert.equal(formatBytes(100), '100 B');
    assert.equal(formatDuration(3725), '1h 2m 5s');
    assert.equal(formatDuration(90061), '1d 1h 1m');
  });

  it('a published port prints as `docker port` does', () => {
    assert.equal(portLine({ Proto: 6, IP: '10.0.0.2', Port: 80, HostIP: '', HostPort: 32768, HostPortEnd: 32768 }), '80/tcp -> 0.0.0.0:32768');
    assert.equal(portLine({ Proto: 17, IP: '10.0.0.2', Port: 53, HostIP: '127.0.0.1', HostPort: 5353, HostPortEnd: 5353 }), '53/udp -> 127.0.0.1:5353');
    assert.equal(portLine({ Proto: 6, IP: '', Port: 80, HostIP: '::1', HostPort: 8000, HostPortEnd: 8002 }), '80/tcp -> [::1]:8000-8002');
  });

  it('ports: one container prints docker port lines, all containers a table', () => {
    const ep: NamedEndpoint = {
      id: 'e'.repeat(64), networkId: 'a'.repeat(64), type: 'bridge', mac: '02:42:0a:00:00:02', joined: true, exposedPorts: [], createdAt: '', linkMarker: '',
      container: 'web', network: 'n1',
      publishedPorts: [{ Proto: 6, IP: '10.0.0.2', Port: 80, HostIP: '', HostPort: 32768, HostPortEnd: 32768 }],
    };
    const rows = portRows([ep]);
    assert.equal(formatPorts(rows, true), '80/tcp -> 0.0.0.0:32768\n');
    assert.equal(formatPorts(rows, false), 'CONTAINER   NETWORK   ENDPOINT ID    PORT\nweb         n1        eeeeeeeeeeee   80/tcp -> 0.0.0.0:32768\n');
  });

  it('networks and peers tables', () => {
    const n: NetworkView & { name?: string } = {
      id: 'a'.repeat(64), type: 'vxlan', subnets: ['10.1.0.0/24'], gateways: ['10.1.0.1'], internal: false, ipv6: false, bridge: 'ts-aaaaaaaaaa', vni: 42, mtu: 1450, endpoints: 2, createdAt: '', linkMarker: '', name: 'ov',
    };
    assert.equal(
      formatNetworks([n]),
      'NETWORK ID     NAME   TYPE    SUBNET        BRIDGE/PARENT   VNI   MTU    ENDPOINTS\naaaaaaaaaaaa   ov     vxlan   10.1.0.0/24   ts-aaaaaaaaaa   42    1450   2\n',
    );
    assert.equal(
      formatPeers([{ networkId: 'a'.repeat(64), network: 'ov', address: '192.0.2.2', sources: ['static', 'learned'], dataAddress: '192.0.2.2', lastSeenSeconds: 12 }]),
      'NETWORK   PEER        SOURCE           DATA ADDRESS   LAST SEEN\nov        192.0.2.2   static,learned   192.0.2.2      12s ago\n',
    );
  });

  it('arguments: commands, flags, at most one argument, unix:// Docker hosts only', () => {
    assert.deepEqual(parseArgs(['--json', 'endpoints', 'n1', '--socket=/x.sock']), { command: 'endpoints', positional: ['n1'], json: true, help: false, socket: '/x.sock' });
    assert.throws(() => parseArgs(['status', 'x']), UsageError);
    assert.throws(() => parseArgs(['frobnicate']), /unknown command/);
    assert.throws(() => parseArgs([]), /no command/);
    assert.equal(dockerSocketOf('unix:///run/d.sock', {}), '/run/d.sock');
    assert.equal(dockerSocketOf(undefined, { DOCKER_HOST: 'unix:///a.sock' }), '/a.sock');
    assert.equal(dockerSocketOf(undefined, {}), '/var/run/docker.sock');
    assert.throws(() => dockerSocketOf('tcp://1.2.3.4:2375', {}), /unix/);
  });

  describe('finding the socket', () => {
    let dir: string;
    const servers: net.Server[] = [];
    const listen = (p: string) =>
      new Promise<void>((resolve) => {
        fs.mkdirSync(path.dirname(p), { recursive: true });
        const s = net.createServer().listen(p, () => resolve());
        servers.push(s);
      });
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-cli-'));
    });
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('--socket, then TSNET_SOCKET, then the socket install, then the one managed plugin', async () => {
      assert.equal(findSocket('/given', { TSNET_SOCKET: '/env' }, dir), '/given');
      assert.equal(findSocket(undefined, { TSNET_SOCKET: '/env' }, dir), '/env');
      assert.throws(() => findSocket(undefined, {}, dir), SocketNotFoundError);
      const managed = path.join(dir, 'f'.repeat(64), 'tsnet.sock');
      await listen(managed);
      fs.writeFileSync(path.join(dir, 'not-a-socket'), '');
      assert.equal(findSocket(undefined, {}, dir), managed);
      await listen(path.join(dir, 'e'.repeat(64), 'tsnet.sock'));
      assert.throws(() => findSocket(undefined, {}, dir), /several tsnet plugins: choose one with --socket/);
      await listen(path.join(dir, 'tsnet.sock'));
      assert.equal(findSocket(undefined, {}, dir), path.join(dir, 'tsnet.sock'));
    });
  });
});
