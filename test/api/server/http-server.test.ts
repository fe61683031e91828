/**
 * The plugin socket under a flood (src/server/http-server.ts, src/server/admission.ts): a real HTTP
 * server on a unix socket in a temp dir, the app over a recording data path whose DiscoverNew is held
 * until the test lets it go, and bounded floods of calls and of silent connections.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { testLogger } from '../../../src/log';
import { Admission } from '../../../src/server/admission';
import { BUSY_STATUS, createApp } from '../../../src/server/app';
import { createPluginServer, type SocketLimits } from '../../../src/server/http-server';
import { ApiFixture, eventually, unixRequest, type UnixHttpResponse } from '../../lab';

const LIMITS = { inFlight: 4, queued: 8, queueWaitMs: 5000 };
const SOCKET: SocketLimits = { connections: 256, headersTimeoutMs: 600, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000 };

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('server: the plugin socket under a flood', () => {
  let fx: ApiFixture;
  let server: http.Server | undefined;
  const srv = () => server!;
  let socketPath: string;
  let admission: Admission;
  /** DiscoverNew calls that reached the data path and wait for the gate to open. */
  let held: string[];
  let gate: Promise<void>;
  let open: () => void;

  const start = async (limits: SocketLimits = SOCKET) => {
    server = createPluginServer(createApp({ driver: fx.driver, ipam: fx.ipam, log: testLogger(), admission }), testLogger(), limits);
    socketPath = path.join(fx.dir, 'tsnet.sock');
    await new Promise<void>((resolve) => srv().listen(socketPath, resolve));
  };

  beforeEach(() => {
    fx = new ApiFixture();
    held = [];
    gate = new Promise((resolve) => (open = resolve));
    const bridge = fx.bridge;
    const original = bridge.discoverNew.bind(bridge);
    bridge.discoverNew = async (peer) => {
      held.push(peer.address);
      await gate;
      return original(peer);
    };
    admission = new Admission(LIMITS);
  });
  afterEach(async () => {
    open();
    const s = server;
    server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await fx.close();
  });

  const discover = (i: number): Promise<UnixHttpResponse> =>
    unixRequest(socketPath, 'POST', '/NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: `10.200.${i >> 8}.${i & 255}`, Self: false } }, 10_000);

  it('200 calls at once: inFlight served, queued wait, the rest get an immediate {"Err"}; all served once the data path moves', async function () {
    this.timeout(20_000);
    await start();
    const fdsBefore = openFds();
    const t0 = Date.now();
    const answers: Array<UnixHttpResponse | undefined> = [];
    const calls = Array.from({ length: 200 }, (_, i) => discover(i).then((r) => (answers[i] = r)));
    await eventually(() => assert.equal(answers.filter((a) => a?.status === BUSY_STATUS).length, 200 - LIMITS.inFlight - LIMITS.queued), {
      timeout: 5000,
      what: 'the calls beyond inFlight + queued refused',
    });
    const refusedMs = Date.now() - t0;
    assert.equal(held.length, LIMITS.inFlight, 'only inFlight calls reached the data path');
    assert.deepEqual(admission.counts, { inFlight: LIMITS.inFlight, queued: LIMITS.queued });
    const busy = answers.find((a) => a?.status === BUSY_STATUS)!;
    assert.match((busy.json as { Err: string }).Err, /^tsnet is busy \(queue full: 4 calls in progress, 8 waiting\); try again$/);
    // Docker's handshake meanwhile: refused at once, in the libnetwork error shape.
    const activate = await unixRequest(socketPath, 'POST', '/Plugin.Activate', undefined, 1000);
    assert.equal(activate.status, BUSY_STATUS);
    assert.equal(typeof (activate.json as { Err?: unknown }).Err, 'string');
    const fdsUnderFlood = openFds();

    open();
    await Promise.all(calls);
    assert.equal(answers.filter((a) => a?.status === 200).length, LIMITS.inFlight + LIMITS.queued);
    assert.equal(fx.driver.peers().length, LIMITS.inFlight + LIMITS.queued);
    assert.deepEqual(admission.counts, { inFlight: 0, queued: 0 });
    const after = await unixRequest(socketPath, 'POST', '/Plugin.Activate', undefined, 1000);
    assert.equal(after.status, 200);
    console.log(`      200-call flood: ${200 - LIMITS.inFlight - LIMITS.queued} refused within ${refusedMs} ms; fds ${fdsBefore} before, ${fdsUnderFlood} under the flood (client and server in this process)`);
  });

  it('a caller that hangs up while waiting gives its place up', async function () {
    this.timeout(10_000);
    await start();
    const first = Array.from({ length: LIMITS.inFlight }, (_, i) => discover(i));
    await eventually(() => assert.equal(held.length, LIMITS.inFlight), { timeout: 3000, what: 'inFlight calls held' });
    // LIMITS.queued callers that wait, then hang up.
    const leaving = Array.from({ length: LIMITS.queued }, (_, i) =>
      http.request({ socketPath, method: 'POST', path: '/NetworkDriver.DiscoverNew', agent: false }).on('error', () => undefined),
    );
    for (const [i, req] of leaving.entries()) req.end(JSON.stringify({ DiscoveryType: 1, DiscoveryData: { Address: `10.201.0.${i}` } }));
    await eventually(() => assert.equal(admission.counts.queued, LIMITS.queued), { timeout: 3000, what: 'the queue full' });
    for (const req of leaving) req.destroy();
    await eventually(() => assert.equal(admission.counts.queued, 0), { timeout: 3000, what: 'the places given up' });
    const waiting = discover(100);
    await eventually(() => assert.equal(admission.counts.queued, 1), { timeout: 3000, what: 'a new call queued, not refused' });
    open();
    assert.equal((await waiting).status, 200);
    for (const r of await Promise.all(first)) assert.equal(r.status, 200);
  });

  it('100 silent connections (cap 40): at most 40 held, closed after headersTimeout; calls are answered afterwards', async function () {
    this.timeout(15_000);
    const limits = { ...SOCKET, connections: 40 };
    await start(limits);
    const fdsBefore = openFds();
    const sockets: net.Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 100; i++) {
      const s = net.connect(socketPath);
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      sockets.push(s);
    }
    try {
      await eventually(() => assert.ok(closed >= 100 - limits.connections, `${closed} closed`), { timeout: 3000, what: 'the connections over the cap closed' });
      const kept = await new Promise<number>((resolve, reject) => srv().getConnections((err, n) => (err ? reject(err) : resolve(n))));
      assert.ok(kept <= limits.connections, `${kept} connections held`);
      const fdsUnderFlood = openFds();
      await eventually(() => assert.equal(closed, 100), { timeout: SOCKET.headersTimeoutMs * 8, what: 'the silent connections closed by the server' });
      const activate = await unixRequest(socketPath, 'POST', '/Plugin.Activate', undefined, 1000);
      assert.equal(activate.status, 200);
      console.log(`      100 silent connections: ${kept} held by the server at most; fds ${fdsBefore} before, ${fdsUnderFlood} under the flood (both ends in this process), ${openFds()} after`);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

describe('server: request targets', () => {
  it('have the path Express reads, and one url.parse cannot read has no path instead of throwing', async () => {
    const { requestPath } = await import('../../../src/server/app');
    assert.equal(requestPath('/NetworkDriver.GetCapabilities'), '/NetworkDriver.GetCapabilities');
    assert.equal(requestPath('/tsnet/v1/endpoints?network=abc&x=1&x=2'), '/tsnet/v1/endpoints');
    assert.equal(requestPath('http://host/Plugin.Activate?a=b'), '/Plugin.Activate');
    assert.equal(requestPath('/a b'), '/a%20b');
    assert.equal(requestPath('http://[::1'), '');
  });

  it('a request target url.parse cannot read gets a 404 {"Err"} and the server keeps serving', async () => {
    const fx = new ApiFixture();
    const server = http.createServer(fx.app);
    const socketPath = path.join(fx.dir, 'targets.sock');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const raw = await new Promise<string>((resolve, reject) => {
        const s = net.connect(socketPath, () => s.end('GET http://[::1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let text = '';
        s.on('data', (c) => (text += c));
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 404 /);
      assert.match(raw, /\{"Err":"unknown endpoint GET : /);
      assert.equal((await unixRequest(socketPath, 'POST', '/Plugin.Activate', undefined, 1000)).status, 200);
    } finally {
      server.close();
      await fx.close();
    }
  });
});
