/**
 * The control → data-path address map of Swarm nodes (src/swarm/data-addresses.ts): the answer line, its
 * persistence (in memory, in a temp-dir store, the import of the old JSON file), and two maps talking
 * over loopback TCP (a port the kernel picks).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  ANSWER_LIMITS,
  DataAddressMap,
  type DataAddressPersistence,
  formatAnswer,
  importLegacyFile,
  MemoryDataAddresses,
  parseAnswer,
  parseStoredMap,
  StoreDataAddresses,
} from '../../../src/swarm/data-addresses';
import { testLogger } from '../../../src/log';
import { eventually } from '../../lab';
import { Store, type Tx } from '../../../src/store/store';

/** The error code of a TCP connect to host:port ('connected' when it was accepted). */
function connectCode(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('vxlan (Swarm): data-path address map', () => {
  const log = testLogger();
  let dir: string;
  const maps: DataAddressMap[] = [];
  const servers: net.Server[] = [];
  const held: net.Socket[] = [];
  const stores: Store[] = [];
  const openStore = () => {
    const store = Store.open(path.join(dir, 'state'));
    stores.push(store);
    return store;
  };
  const make = (options: Partial<ConstructorParameters<typeof DataAddressMap>[0]> = {}) => {
    const m = new DataAddressMap({ log, port: 0, timeoutMs: 500, ...options });
    maps.push(m);
    return m;
  };
  /** A TCP server on loopback answering every connection with `reply` (or nothing, holding it open). */
  const fakePeer = async (reply: string | undefined): Promise<number> => {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      if (reply !== undefined) s.end(reply);
      else held.push(s);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    return (server.address() as net.AddressInfo).port;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-addrmap-'));
  });
  afterEach(async () => {
    await Promise.all(maps.splice(0).map((m) => m.close()));
    for (const s of held.splice(0)) s.destroy();
    for (const s of servers.splice(0)) s.close();
    for (const s of stores.splice(0)) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answer lines: round trip, canonical IPv6, no address yet; anything else is refused', () => {
    assert.equal(parseAnswer(formatAnswer('10.222.0.2')), '10.222.0.2');
    assert.equal(parseAnswer(formatAnswer('FD00:0:0::2')), 'fd00::2');
    assert.equal(parseAnswer(formatAnswer(undefined)), undefined);
    assert.throws(() => parseAnswer('SSH-2.0-OpenSSH_9.2\r\n'), /not a tsnet data-path address answer/);
    assert.throws(() => parseAnswer('{"tsnet":"data-path-addr","version":2,"address":"10.0.0.1"}'), /not a tsnet/);
    assert.throws(() => parseAnswer('{"tsnet":"data-path-addr","version":1,"address":"10.0.0.300"}'), /is not an IP address/);
    assert.throws(() => parseAnswer('[]'), /not a tsnet/);
  });

  it('stored maps keep only IP → IP pairs, canonical', () => {
    assert.deepEqual([...parseStoredMap('{"10.221.0.2":"10.222.0.2","x":"10.0.0.1","10.221.0.3":7,"FD00::3":"FD01::3"}')], [
      ['10.221.0.2', '10.222.0.2'],
      ['fd00::3', 'fd01::3'],
    ]);
    assert.throws(() => parseStoredMap('[]'), /not a JSON object/);
  });

  it('a node asks another over TCP and maps its control address to the data address the other answers', async () => {
    const answering = make();
    answering.setSelf('10.222.0.2');
    await answering.listen(['127.0.0.1']);
    const asking = make({ port: answering.listeningPort });
    assert.equal(asking.dataOf('127.0.0.1'), undefined);
    assert.equal(await asking.refresh(['127.0.0.1']), true, 'the map changed');
    assert.equal(asking.dataOf('127.0.0.1'), '10.222.0.2');
    assert.equal(await asking.refresh(['127.0.0.1']), false, 'not asked again before refreshMs');
    assert.deepEqual(asking.entries(), { '127.0.0.1': '10.222.0.2' });
  });

  it('asks again after expire() (a node re-joined) and takes a changed data address', async () => {
    const answering = make();
    answering.setSelf('10.222.0.2');
    await answering.listen(['127.0.0.1']);
    const asking = make({ port: answering.listeningPort });
    await asking.refresh(['127.0.0.1']);
    answering.setSelf('10.222.0.9');
    assert.equal(await asking.refresh(['127.0.0.1']), false);
    asking.expire('127.0.0.1');
    assert.equal(await asking.refresh(['127.0.0.1']), true);
    assert.equal(asking.dataOf('127.0.0.1'), '10.222.0.9');
  });

  it('a peer that does not know its own address yet, refuses, hangs or answers garbage maps nothing and is retried later', async () => {
    const none = make();
    await none.listen(['127.0.0.1']); // no setSelf
    const asking = make({ port: none.listeningPort, retryMs: 60_000 });
    assert.equal(await asking.refresh(['127.0.0.1']), false);
    assert.equal(asking.dataOf('127.0.0.1'), undefined);
    none.setSelf('10.222.0.2');
    assert.equal(await asking.refresh(['127.0.0.1']), false, 'not asked again before retryMs');
    asking.expire('127.0.0.1');
    assert.equal(await asking.refresh(['127.0.0.1']), true);

    for (const reply of ['HTTP/1.1 400 Bad Request\r\n\r\n', undefined, 'x'.repeat(1000)]) {
      const port = await fakePeer(reply);
      const m = make({ port, timeoutMs: 300 });
      const t0 = Date.now();
      assert.equal(await m.refresh(['127.0.0.1']), false, `reply ${JSON.stringify(reply?.slice(0, 20))}`);
      assert.equal(m.dataOf('127.0.0.1'), undefined);
      assert.ok(Date.now() - t0 < 2000, 'bounded by the timeout');
    }
    // Nobody listening at all.
    const port = await fakePeer('');
    servers.pop()!.close();
    const refused = make({ port });
    assert.equal(await refused.refresh(['127.0.0.1']), false);
  });

  it('keeps an old answer when the node cannot be asked (its tsnet restarting)', async () => {
    const answering = make();
    answering.setSelf('10.222.0.2');
    await answering.listen(['127.0.0.1']);
    const asking = make({ port: answering.listeningPort });
    await asking.refresh(['127.0.0.1']);
    await answering.close();
    asking.expire('127.0.0.1');
    assert.equal(await asking.refresh(['127.0.0.1']), false);
    assert.equal(asking.dataOf('127.0.0.1'), '10.222.0.2');
  });

  it('persists the map through its persistence: a new instance (a restarted tsnet) knows it before asking anyone', async () => {
    const persistence = new MemoryDataAddresses();
    const answering = make();
    answering.setSelf('10.222.0.2');
    await answering.listen(['127.0.0.1']);
    await make({ port: answering.listeningPort, persistence }).refresh(['127.0.0.1']);
    assert.deepEqual([...persistence.load()], [['127.0.0.1', '10.222.0.2']]);
    assert.equal(make({ persistence }).dataOf('127.0.0.1'), '10.222.0.2');

    // attach() later (the store opens after the map exists): stored entries are loaded, answers already
    // received win and are saved.
    persistence.save(new Map([['127.0.0.1', '10.222.0.7'], ['10.221.0.3', '10.222.0.3']]));
    const late = make({ port: answering.listeningPort });
    await late.refresh(['127.0.0.1']);
    late.attach(persistence);
    assert.deepEqual(late.entries(), { '10.221.0.3': '10.222.0.3', '127.0.0.1': '10.222.0.2' });
    assert.deepEqual(Object.fromEntries(persistence.load()), late.entries());
  });

  it('a persistence that fails to load or save is logged: the map keeps working in memory', async () => {
    const broken: DataAddressPersistence = {
      load: () => {
        throw new Error('load failed');
      },
      save: () => {
        throw new Error('save failed');
      },
    };
    const answering = make();
    answering.setSelf('10.222.0.2');
    await answering.listen(['127.0.0.1']);
    const m = make({ port: answering.listeningPort, persistence: broken });
    assert.equal(await m.refresh(['127.0.0.1']), true);
    assert.equal(m.dataOf('127.0.0.1'), '10.222.0.2');
  });

  it('store-backed: one key per entry, survives reopening the store, only changed keys written, bad entries skipped', async () => {
    let store = openStore();
    const persistence = new StoreDataAddresses(store);
    assert.deepEqual([...persistence.load()], []);
    persistence.save(new Map([['10.221.0.2', '10.222.0.2'], ['fd00::3', 'fd01::3']]));
    assert.deepEqual(store.range('vxlan-addr/'), [
      ['vxlan-addr/10.221.0.2', { data: '10.222.0.2' }],
      ['vxlan-addr/fd00::3', { data: 'fd01::3' }],
    ]);

    // A map attached to the reopened store (a restarted tsnet) knows the entries; a changed answer
    // replaces one key, a dropped entry is deleted, both in one transaction.
    await stores.pop()!.close();
    store = openStore();
    const answering = make();
    answering.setSelf('10.222.0.9');
    await answering.listen(['127.0.0.1']);
    const m = make({ port: answering.listeningPort, persistence: new StoreDataAddresses(store) });
    assert.equal(m.dataOf('10.221.0.2'), '10.222.0.2');
    assert.equal(m.dataOf('FD00::3'), 'fd01::3');
    assert.equal(await m.refresh(['127.0.0.1']), true);
    assert.equal(new StoreDataAddresses(store).load().get('127.0.0.1'), '10.222.0.9');
    let transactions = 0;
    const written: string[] = [];
    const counting = {
      range: store.range.bind(store),
      transact: <R>(fn: (tx: Tx) => R): R => {
        transactions += 1;
        return store.transact((tx) => fn({ ...tx, put: (key, value) => (written.push(key), tx.put(key, value)) }));
      },
    };
    new StoreDataAddresses(counting).save(new Map([['10.221.0.2', '10.222.0.5'], ['127.0.0.1', '10.222.0.9']]));
    assert.equal(transactions, 1);
    assert.deepEqual(written, ['vxlan-addr/10.221.0.2'], 'the unchanged entry is not rewritten');
    assert.deepEqual(store.range('vxlan-addr/'), [
      ['vxlan-addr/10.221.0.2', { data: '10.222.0.5' }],
      ['vxlan-addr/127.0.0.1', { data: '10.222.0.9' }],
    ]);

    store.transact((tx) => {
      tx.put('vxlan-addr/not-an-ip', { data: '10.222.0.1' });
      tx.put('vxlan-addr/10.221.0.8', { data: 7 });
      tx.put('vxlan-addr/10.221.0.9', 'x');
    });
    assert.deepEqual(Object.fromEntries(new StoreDataAddresses(store).load()), { '10.221.0.2': '10.222.0.5', '127.0.0.1': '10.222.0.9' });
  });

  it('imports the JSON file of older versions into the store once and removes it; a broken file is removed, a failed save keeps it', () => {
    const file = path.join(dir, 'vxlan-data-addresses.json');
    const store = openStore();
    const persistence = new StoreDataAddresses(store);
    persistence.save(new Map([['10.221.0.2', '10.222.0.1'], ['10.221.0.4', '10.222.0.4']]));
    fs.writeFileSync(file, '{"10.221.0.2":"10.222.0.2","FD00::3":"FD01::3","x":"y"}\n');
    fs.writeFileSync(path.join(dir, '.vxlan-data-addresses.json.tmp'), '{');
    importLegacyFile(file, persistence, log);
    assert.equal(fs.existsSync(file), false, 'the file is removed');
    assert.equal(fs.existsSync(path.join(dir, '.vxlan-data-addresses.json.tmp')), false, 'its leftover temporary file too');
    assert.deepEqual(Object.fromEntries(persistence.load()), { '10.221.0.2': '10.222.0.2', '10.221.0.4': '10.222.0.4', 'fd00::3': 'fd01::3' });
    assert.equal(make({ persistence }).dataOf('fd00::3'), 'fd01::3');

    importLegacyFile(file, persistence, log); // no file: nothing changes
    assert.equal(persistence.load().size, 3);

    fs.writeFileSync(file, '{"10.221');
    importLegacyFile(file, persistence, log);
    assert.equal(fs.existsSync(file), false);
    assert.equal(persistence.load().size, 3);

    fs.writeFileSync(file, '{"10.221.0.5":"10.222.0.5"}');
    const failing: DataAddressPersistence = {
      load: () => new Map(),
      save: () => {
        throw new Error('store full');
      },
    };
    importLegacyFile(file, failing, log);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"10.221.0.5":"10.222.0.5"}', 'kept for the next start');
  });

  it("a node's own Swarm addresses: the bind address and the data-path address, canonical, never the wildcard", () => {
    assert.deepEqual(DataAddressMap.ownAddresses({ address: '10.222.0.2', bindAddress: '10.221.0.2' }), ['10.221.0.2', '10.222.0.2']);
    assert.deepEqual(DataAddressMap.ownAddresses({ address: '10.222.0.2', bindAddress: '10.222.0.2' }), ['10.222.0.2']);
    assert.deepEqual(DataAddressMap.ownAddresses({ address: 'FD00::2', bindAddress: '0.0.0.0' }), ['fd00::2']);
    assert.deepEqual(DataAddressMap.ownAddresses({ address: '::', bindAddress: '' }), []);
  });

  it('answers only on the addresses it was given: another local address of the host is refused', async () => {
    const m = make();
    await m.serveSelf({ address: '127.0.0.3', bindAddress: '127.0.0.2' });
    assert.deepEqual(m.listeningOn.sort(), ['127.0.0.2', '127.0.0.3']);
    const port = m.listeningPort;
    for (const own of ['127.0.0.2', '127.0.0.3']) {
      const asking = make({ port });
      assert.equal(await asking.refresh([own]), true, own);
      assert.equal(asking.dataOf(own), '127.0.0.3');
    }
    // 127.0.0.1 (and every container gateway) is another local address: nothing listens there.
    assert.equal(await connectCode('127.0.0.1', port), 'ECONNREFUSED');
    // A new identity (the node re-joined elsewhere) moves the listeners.
    await m.serveSelf({ address: '127.0.0.4', bindAddress: '127.0.0.4' });
    assert.deepEqual(m.listeningOn, ['127.0.0.4']);
    assert.equal(await connectCode('127.0.0.2', port), 'ECONNREFUSED');
    await m.close();
    assert.deepEqual(m.listeningOn, []);
    assert.equal(await connectCode('127.0.0.4', port), 'ECONNREFUSED');
  });

  it('an address that cannot be taken is logged and the others still answer', async () => {
    const m = make();
    // 192.0.2.1 (TEST-NET-1) is not an address of this host: EADDRNOTAVAIL.
    await m.listen(['192.0.2.1', '127.0.0.2']);
    assert.deepEqual(m.listeningOn, ['127.0.0.2']);
  });

  it('invalid addresses are neither asked nor mapped; a bad self address is not answered', async () => {
    const m = make();
    assert.equal(await m.refresh(['not-an-ip', '']), false);
    assert.equal(m.dataOf('not-an-ip'), undefined);
    m.setSelf('garbage');
    await m.listen(['127.0.0.1']);
    const probe = make({ port: m.listeningPort });
    assert.equal(await probe.refresh(['127.0.0.1']), false);
    assert.equal(probe.dataOf('127.0.0.1'), undefined);
  });
});

describe('swarm: data-path address answers under a flood', () => {
  const log = testLogger();

  it("200 slow connections from one source do not keep another source's ask from an answer within 1 s", async function () {
    this.timeout(20_000);
    const answering = new DataAddressMap({ log, port: 0, timeoutMs: 2000 });
    answering.setSelf('10.222.0.2');
    await answering.listen(['127.0.0.1']);
    const slow: net.Socket[] = [];
    let closedByServer = 0;
    const drip = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write('x');
    }, 100);
    try {
      // One source (127.0.0.9) opens 200 connections and sends a byte every 100 ms, never reading.
      for (let i = 0; i < 200; i++) {
        const s = net.connect({ host: '127.0.0.1', port: answering.listeningPort, localAddress: '127.0.0.9' });
        s.on('error', () => undefined);
        s.on('close', () => closedByServer++);
        slow.push(s);
      }
      await eventually(() => assert.ok(closedByServer >= 200 - ANSWER_LIMITS.perSource, `${closedByServer} closed`), {
        timeout: 3000,
        what: 'the slow connections closed by the answering side',
      });
      const asking = new DataAddressMap({ log, port: answering.listeningPort, timeoutMs: 1000 });
      const started = Date.now();
      assert.equal(await asking.refresh(['127.0.0.1']), true);
      assert.equal(asking.dataOf('127.0.0.1'), '10.222.0.2');
      assert.ok(Date.now() - started < 1000, `answered after ${Date.now() - started} ms`);
    } finally {
      clearInterval(drip);
      for (const s of slow) s.destroy();
      await answering.close();
    }
  });
});
