// The tsnet command against the daemon's app on a real unix socket (no root, no Docker): JSON and table
// output from the read-only paths, Docker unreachable only costs the names (a warning on stderr), and
// a daemon that is not there is a clear error with exit status 1.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { runCli } from '../../../src/cli/main';
import type { NetworkView } from '../../../src/protocol';
import { ApiFixture, createNetworkBody, EP_ID, NET_ID } from '../../lab';

describe('tsnet command over a unix socket', () => {
  let fx: ApiFixture;
  let server: http.Server;
  let socket: string;
  const env = () => ({ DOCKER_HOST: `unix://${path.join(fx.dir, 'no-docker.sock')}` });

  before(async () => {
    fx = new ApiFixture();
    await fx.post('NetworkDriver.CreateNetwork', createNetworkBody()).expect(200);
    await fx.post('NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { Address: '10.99.0.5/24' } }).expect(200);
    socket = path.join(fx.dir, 'tsnet.sock');
    server = http.createServer(fx.app);
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await fx.close();
  });

  it('networks --json: the daemon\'s views; Docker unreachable is a warning, not a failure', async () => {
    const r = await runCli(['--socket', socket, '--json', 'networks'], env());
    assert.equal(r.code, 0, r.stderr);
    const nets = JSON.parse(r.stdout) as NetworkView[];
    assert.deepEqual(nets.map((n) => [n.id, n.type, n.subnets]), [[NET_ID, 'bridge', ['10.99.0.0/24']]]);
    assert.match(r.stderr, /^tsnet: warning: Docker API not reachable, showing IDs only/);
  });

  it('endpoints: a table with IDs where Docker would give names', async () => {
    const r = await runCli(['--socket', socket, 'endpoints', NET_ID.slice(0, 6)], env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'ENDPOINT ID    CONTAINER   NETWORK        TYPE     ADDRESS        MAC                 HOST INTERFACE\n' +
        `${EP_ID.slice(0, 12)}   -           ${NET_ID.slice(0, 12)}   bridge   10.99.0.5/24   ${fx.driver.endpoints()[0]!.macAddress}   -\n`,
    );
  });

  it('status works without Docker; an unknown network and a missing daemon are errors with exit status 1', async () => {
    const s = await runCli(['--socket', socket, 'status'], env());
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^Engine: +unknown \(Docker API at .*no-docker\.sock/m);
    const unknown = await runCli(['--socket', socket, 'endpoints', 'nope'], env());
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^tsnet: no tsnet network nope/);
    const gone = await runCli(['--socket', path.join(fx.dir, 'absent.sock'), 'status'], env());
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^tsnet: tsnet at .*absent\.sock: connect ENOENT/);
  });
});
