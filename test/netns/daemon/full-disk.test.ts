/**
 * The whole daemon on a full disk (issue 13): its state directory is a 1 MiB tmpfs in a private mount
 * namespace, held by a `sleep` so the store outlives a daemon. Per trial, the test fills the tmpfs to
 * ENOSPC from outside (through /proc/<holder>/root) and gives back a seeded 8-64 KiB, then makes IPAM
 * calls on the plugin socket (RequestAddress, and ReleaseAddress of a held one now and then) until the
 * store has refused 40 writes; then it frees the space and makes 5 more calls, which must succeed. Every
 * call must answer 200 or a JSON {"Err"}; the daemon must not abort and must stop cleanly. A fresh daemon
 * on the same directory must then hold exactly the addresses whose calls succeeded: each is refused when
 * asked for again, every other address of the range is free. 20 trials, bounded in calls and time.
 * Needs root (mount, netns tier); skips loudly without it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { netnsUnsafeReason } from '../../lab';
import { unixRequest, type UnixHttpResponse } from '../../lab/unix-http';
import { prng } from '../../lab/prng';

const TRIALS = 20;
const PARALLEL = 2;
const MAIN = path.resolve(__dirname, '../../../src/main.js');
const POOL = '10.200.0.0/16';
const REFUSALS = 40;
const MAX_CALLS = 2000;
const FILL_TIME_MS = 15_000;
const CALLS_AFTER_FREE = 5;

interface TrialResult {
  seed: number;
  ok: number;
  refused: number;
  held: number;
  /** Answers that were neither 200 nor a JSON {"Err"}, and transport errors. */
  unexpected: string[];
  afterFree: number;
  stop: { code: number | null; signal: string | null };
  missing: string[];
  extra: string[];
  sampleRefusal?: string;
  log: string;
}

const ipOf = (n: number) => `10.200.${(n >> 8) & 255}.${n & 255}`;
const indexOf = (ip: string) => {
  const [, , c, d] = ip.split('.').map(Number);
  return (c! << 8) + d!;
};

function waitExit(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, signal: 'timeout' });
    }, ms);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

async function trial(seed: number): Promise<TrialResult> {
  const rnd = prng(seed);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-daemon-full-'));
  const mnt = path.join(work, 'state');
  fs.mkdirSync(mnt);
  const sock = path.join(work, 'tsnet.sock');
  const logFile = path.join(work, 'daemon.log');
  const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$1" && echo ready && exec sleep 600', 'holder', mnt], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const daemons: ChildProcess[] = [];
  const result: TrialResult = { seed, ok: 0, refused: 0, held: 0, unexpected: [], afterFree: 0, stop: { code: null, signal: null }, missing: [], extra: [], log: '' };
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`mount holder exited ${code}`)));
    });
    const inMnt = `/proc/${holder.pid}/root${mnt}`;

    const startDaemon = async () => {
      const out = fs.openSync(logFile, 'a');
      const d = spawn('nsenter', ['-t', String(holder.pid), '-m', '--', process.execPath, MAIN], {
        stdio: ['ignore', out, out],
        env: {
          PATH: process.env.PATH,
          TSNET_SOCKET: sock,
          TSNET_STATE_DIR: mnt,
          TSNET_INSTANCE: `fd${seed}`,
          TSNET_GC_INTERVAL_MS: '0',
          TSNET_DOCKER_SOCKET: path.join(work, 'no-docker.sock'),
          TSNET_LOG_LEVEL: 'warn',
        },
      });
      fs.closeSync(out);
      daemons.push(d);
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (d.exitCode !== null || d.signalCode !== null) throw new Error(`daemon exited at start: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
        const r = await unixRequest(sock, 'POST', '/Plugin.Activate', {}, 2000).catch(() => undefined);
        if (r?.status === 200) return d;
        if (Date.now() > deadline) throw new Error('daemon did not answer within 20 s');
        await new Promise((r2) => setTimeout(r2, 50));
      }
    };
    const call = (p: string, body: unknown): Promise<UnixHttpResponse | Error> => unixRequest(sock, 'POST', p, body, 5000).catch((e: Error) => e);
    const isErr = (r: UnixHttpResponse) => r.status !== 200 && typeof (r.json as { Err?: unknown } | undefined)?.Err === 'string';

    let daemon = await startDaemon();
    const pool = await call('/IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: POOL, Options: {} });
    assert.ok(!(pool instanceof Error) && pool.status === 200, `RequestPool: ${pool instanceof Error ? pool.message : pool.body}`);
    const poolId = (pool.json as { PoolID: string }).PoolID;

    // Fill the tmpfs, then give back a seeded few KiB: the store gets that much room and no more.
    const filler = path.join(inMnt, 'filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(16 * 1024, 1);
    let size = 0;
    try {
      for (let i = 0; i < 1024; i++) size += fs.writeSync(fd, chunk);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    }
    fs.ftruncateSync(fd, Math.max(0, size - 4096 * (2 + Math.floor(rnd() * 15))));
    fs.closeSync(fd);

    const held = new Set<string>();
    const record = (what: string, r: UnixHttpResponse | Error): 'ok' | 'refused' | 'bad' => {
      if (r instanceof Error) {
        result.unexpected.push(`${what}: ${r.message}`);
        return 'bad';
      }
      if (r.status === 200) return 'ok';
      if (isErr(r)) {
        result.sampleRefusal ??= r.body;
        return 'refused';
      }
      result.unexpected.push(`${what}: HTTP ${r.status} ${r.body}`);
      return 'bad';
    };
    const request = async () => {
      const r = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Options: {} });
      const k = record('RequestAddress', r);
      if (k === 'ok') held.add(((r as UnixHttpResponse).json as { Address: string }).Address.split('/')[0]!);
      return k;
    };
    const t0 = Date.now();
    for (let i = 0; i < MAX_CALLS && result.refused < REFUSALS && Date.now() - t0 < FILL_TIME_MS; i++) {
      let k: 'ok' | 'refused' | 'bad';
      if (held.size > 0 && rnd() < 0.2) {
        const a = [...held][Math.floor(rnd() * held.size)]!;
        k = record('ReleaseAddress', await call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: a }));
        if (k === 'ok') held.delete(a);
      } else {
        k = await request();
      }
      if (k === 'ok') result.ok++;
      else if (k === 'refused') result.refused++;
      else break;
    }
    fs.rmSync(filler);
    for (let i = 0; i < CALLS_AFTER_FREE; i++) if ((await request()) === 'ok') result.afterFree++;

    daemon.kill('SIGTERM');
    result.stop = await waitExit(daemon, 15_000);
    result.held = held.size;

    // A fresh daemon on the same directory holds exactly the addresses whose calls succeeded.
    daemon = await startDaemon();
    const maxIndex = Math.max(0, ...[...held].map(indexOf));
    for (const a of held) {
      const r = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: a, Options: {} });
      if (r instanceof Error || !isErr(r)) result.missing.push(a);
    }
    for (let n = 1; n <= maxIndex + 5; n++) {
      const a = ipOf(n);
      if (held.has(a) || (n & 255) === 0 || (n & 255) === 255) continue;
      const r = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: a, Options: {} });
      if (r instanceof Error || r.status !== 200) result.extra.push(`${a}: ${r instanceof Error ? r.message : r.body}`);
    }
    daemon.kill('SIGTERM');
    await waitExit(daemon, 15_000);
  } finally {
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    holder.kill('SIGKILL');
    await waitExit(holder, 5000);
    result.log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    fs.rmSync(work, { recursive: true, force: true });
  }
  return result;
}

describe('daemon on a full state directory (netns tier, root)', function () {
  this.timeout(600_000);
  const results: TrialResult[] = [];

  before(function () {
    const reason = netnsUnsafeReason() ?? (spawnSync('unshare', ['-m', 'true']).status === 0 ? undefined : 'unshare -m (mount namespaces) fails');
    if (reason) {
      console.warn(`  SKIPPED daemon full-disk tests: ${reason}`);
      this.skip();
    }
  });

  before(async () => {
    for (let i = 0; i < TRIALS; i += PARALLEL) {
      const seeds = Array.from({ length: Math.min(PARALLEL, TRIALS - i) }, (_, k) => 2000 + i + k);
      results.push(...(await Promise.all(seeds.map(trial))));
    }
  });

  it(`${TRIALS} trials: every call answers, no abort, a clean stop, and the store holds exactly the succeeded calls`, () => {
    assert.equal(results.length, TRIALS);
    for (const t of results) {
      const where = `seed ${t.seed}: ${JSON.stringify({ ...t, log: undefined })}\n${t.log.slice(-3000)}`;
      assert.deepEqual(t.unexpected, [], where);
      assert.ok(t.refused >= 1, `the disk never got full: ${where}`);
      assert.match(t.sampleRefusal ?? '', /full|space/i, where);
      assert.equal(t.afterFree, CALLS_AFTER_FREE, `calls after the space was freed: ${where}`);
      assert.deepEqual(t.stop, { code: 0, signal: null }, `the daemon stopped cleanly: ${where}`);
      assert.deepEqual(t.missing, [], `succeeded calls missing from the store: ${where}`);
      assert.deepEqual(t.extra, [], `addresses in the store no succeeded call made: ${where}`);
      assert.doesNotMatch(t.log, /free\(\)|malloc\(\)|corrupted|Aborted|FATAL ERROR|uncaughtException/, where);
    }
    const ok = results.reduce((n, t) => n + t.ok, 0);
    const refused = results.reduce((n, t) => n + t.refused, 0);
    console.log(`      ${TRIALS} trials: ${ok} calls succeeded, ${refused} refused with {"Err"} (e.g. ${results[0]?.sampleRefusal}), ${results.reduce((n, t) => n + t.held, 0)} addresses held and found again`);
  });
});
