// The daemon's process-level duties: socket placement and mode, the state-directory lock against a
// second daemon (also after the first one was killed), graceful stop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { readSettings, type Settings } from '../../../src/config/settings';
import { Daemon } from '../../../src/daemon/daemon';
import { MEMORY_REPORT_MESSAGE } from '../../../src/daemon/memory-report';
import { testLogger } from '../../../src/log';
import { StateDirLock } from '../../../src/store/lock';
import { capturingLogger, eventually, RecordingDataPath } from '../../lab';

function settingsIn(dir: string): Settings {
  return readSettings({
    TSNET_SOCKET: path.join(dir, 'run', 'plugins', 'tsnet.sock'),
    TSNET_STATE_DIR: path.join(dir, 'state'),
    TSNET_LOG_LEVEL: 'error',
  });
}

function call(socketPath: string, endpoint: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: `/${endpoint}`, method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('daemon process duties', () => {
  let dir: string;
  const parts = () => ({ datapaths: [new RecordingDataPath('bridge')], hostNetworks: async () => [] });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-daemon-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket directory, serves on a 0600 socket, and removes the socket on stop', async () => {
    const settings = settingsIn(dir);
    const daemon = await Daemon.start(settings, testLogger(), parts());
    try {
      assert.equal(fs.statSync(settings.socketPath).mode & 0o777, 0o600);
      assert.equal(fs.statSync(settings.stateDir).mode & 0o777, 0o700);
      const res = await call(settings.socketPath, 'Plugin.Activate');
      assert.deepEqual(JSON.parse(res.body), { Implements: ['NetworkDriver', 'IpamDriver'] });
    } finally {
      await daemon.stop();
    }
    assert.equal(fs.existsSync(settings.socketPath), false);
  });

  it('logs a memory report on SIGUSR2 while running, and stops listening for it on stop', async () => {
    const { log, records } = capturingLogger('info');
    const reports = () => records().filter((r) => r.message === MEMORY_REPORT_MESSAGE);
    const listeners = process.listenerCount('SIGUSR2');
    const daemon = await Daemon.start(settingsIn(dir), log, parts());
    try {
      process.kill(process.pid, 'SIGUSR2');
      const [report] = await eventually(
        () => {
          const logged = reports();
          assert.ok(logged.length > 0, 'no memory report logged');
          return logged;
        },
        { timeout: 1000, interval: 10, what: 'the memory report' },
      );
      assert.ok(report, 'no memory report logged');
      for (const field of ['rssKiB', 'rssAnonKiB', 'rssFileKiB', 'rssShmemKiB', 'heapUsedKiB', 'heapTotalKiB', 'newSpaceKiB', 'externalKiB']) {
        assert.equal(typeof report[field], 'number', field);
      }
      assert.ok((report.rssKiB as number) > 0 && (report.rssAnonKiB as number) > 0 && (report.heapUsedKiB as number) > 0);
      assert.ok((report.heapUsedKiB as number) <= (report.heapTotalKiB as number));
      // The watchdog's figures (watchdog.ts).
      for (const field of ['openFds', 'fdSoftLimit', 'eventLoopDelayP99Ms', 'eventLoopDelayMaxMs', 'storeUsedKiB', 'storeFileKiB', 'diskFreeKiB']) {
        assert.equal(typeof report[field], 'number', field);
      }
      assert.ok((report.openFds as number) > 0 && (report.openFds as number) < (report.fdSoftLimit as number));
      assert.ok((report.storeUsedKiB as number) > 0 && (report.storeUsedKiB as number) <= (report.storeFileKiB as number));
    } finally {
      await daemon.stop();
    }
    assert.equal(process.listenerCount('SIGUSR2'), listeners);
  });

  it('replaces a stale socket file but refuses one another process serves', async () => {
    const settings = settingsIn(dir);
    fs.mkdirSync(path.dirname(settings.socketPath), { recursive: true });
    fs.writeFileSync(settings.socketPath, 'stale');
    const daemon = await Daemon.start(settings, testLogger(), parts());
    const other = { ...settings, stateDir: path.join(dir, 'state2') };
    await assert.rejects(Daemon.start(other, testLogger(), parts()), /socket .* is already served by another process/);
    await daemon.stop();
  });

  it('a second daemon on the same state directory refuses to start, naming the holder', async () => {
    const settings = settingsIn(dir);
    const daemon = await Daemon.start(settings, testLogger(), parts());
    const second = { ...settings, socketPath: path.join(dir, 'other.sock') };
    await assert.rejects(Daemon.start(second, testLogger(), parts()), new RegExp(`state directory .* is in use by another tsnet daemon \\(pid ${process.pid}\\)`));
    await daemon.stop();
    const again = await Daemon.start(second, testLogger(), parts());
    await again.stop();
  });

  it('the lock of a daemon killed with -9 is taken over', async () => {
    const stateDir = path.join(dir, 'state');
    fs.mkdirSync(stateDir);
    const lockModule = require.resolve('../../../src/store/lock');
    const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(lockModule)}).StateDirLock.acquire(${JSON.stringify(stateDir)}).then(() => console.log('held')); setInterval(() => {}, 1e6)`]);
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    await assert.rejects(StateDirLock.acquire(stateDir), /is in use by another tsnet daemon/);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const lock = await StateDirLock.acquire(stateDir);
    await lock.release();
  });

  it('kill -9 while IPAM calls are in flight loses no answered allocation or release (group commit)', async function () {
    this.timeout(30_000);
    const settings = settingsIn(dir);
    const req = (m: string) => JSON.stringify(require.resolve(m));
    // The daemon in a child process, so that it can be killed with -9 mid-commit.
    const child = spawn(process.execPath, [
      '-e',
      `const { Daemon } = require(${req('../../../src/daemon/daemon')});
       const { readSettings } = require(${req('../../../src/config/settings')});
       const { testLogger } = require(${req('../../../src/log')});
       const { RecordingDataPath } = require(${req('../../lab/recording-datapath')});
       Daemon.start(readSettings(process.env), testLogger(), { datapaths: [new RecordingDataPath('bridge')], hostNetworks: async () => [] })
         .then(() => console.log('listening'));`,
    ], { env: { ...process.env, TSNET_SOCKET: settings.socketPath, TSNET_STATE_DIR: settings.stateDir, TSNET_LOG_LEVEL: 'error' } });
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    const post = (endpoint: string, body: unknown) =>
      new Promise<Record<string, string>>((resolve, reject) => {
        const r = http.request({ socketPath: settings.socketPath, path: `/${endpoint}`, method: 'POST' }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
        });
        r.on('error', reject);
        r.end(JSON.stringify(body));
      });
    const { PoolID } = await post('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.97.0.0/16', SubPool: '', Options: {}, V6: false });
    /** Addresses whose last answer was an allocation (no release sent since), and those whose release was answered. */
    const held = new Set<string>();
    const released = new Set<string>();
    let killed = false;
    const worker = async () => {
      while (!killed) {
        let address: string;
        try {
          address = (await post('IpamDriver.RequestAddress', { PoolID, Address: '', Options: null })).Address!.split('/')[0]!;
        } catch {
          return;
        }
        if (killed) return; // an answer read after the kill proves nothing either way
        held.add(address);
        released.delete(address);
        if (Math.random() < 0.5) continue;
        // From here the address is in doubt until the release is answered: it may or may not be stored.
        held.delete(address);
        try {
          await post('IpamDriver.ReleaseAddress', { PoolID, Address: address });
        } catch {
          return;
        }
        if (killed) return;
        released.add(address);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((r) => setTimeout(r, 400 + Math.random() * 400));
    child.kill('SIGKILL');
    killed = true;
    await new Promise((r) => child.on('exit', r));
    await Promise.all(workers);
    assert.ok(held.size > 20 && released.size > 20, `enough answered calls before the kill (${held.size} held, ${released.size} released)`);

    const { Store } = await import('../../../src/store/store');
    const { Ipam } = await import('../../../src/ipam/ipam');
    const store = Store.open(settings.stateDir);
    try {
      const allocated = new Set(new Ipam(store, { defaultPools: [], hostNetworks: async () => [], log: testLogger() }).allocated(PoolID));
      const lost = [...held].filter((a) => !allocated.has(a));
      assert.deepEqual(lost, [], 'every answered allocation is stored');
      // Serial allocation moves on through a /16: a released address is not handed out again within the run.
      const back = [...released].filter((a) => allocated.has(a));
      assert.deepEqual(back, [], 'every answered release is stored');
    } finally {
      await store.close();
    }
  });
});
