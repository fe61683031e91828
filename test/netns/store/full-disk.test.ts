/**
 * The store on a full disk (issue 13): 20 trials, each in its own mount namespace (`unshare -m`) with
 * a 1 MiB tmpfs that dies with it. full-disk.child.ts fills it with create/delete-like transactions
 * while a neighbour takes and gives back space; every call must succeed or throw the clear
 * "state directory ... is full" UnavailableError, the process must not abort, and after the space is
 * freed the store (written again in the same process, then reopened by a new one) holds exactly the
 * keys whose transactions succeeded. Needs root (mount); skips loudly without it.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FillResult, VerifyResult } from './full-disk.child';

const TRIALS = 20;
const PARALLEL = 4;
const TRIAL_TIMEOUT_MS = 20_000;
const CHILD = path.join(__dirname, 'full-disk.child.js');

interface Trial {
  seed: number;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** One trial: fill then verify, both inside one private mount namespace. */
function runTrial(seed: number): Promise<Trial> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-full-disk-'));
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt);
  const script =
    'set -e; mount -t tmpfs -o size=1m tmpfs "$1"; ' +
    'node "$2" fill "$1" "$3" "$4"; node "$2" verify "$1" "$3"';
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['-m', '--propagation', 'private', 'bash', '-c', script, 'trial', mnt, CHILD, path.join(work, 'committed.json'), String(seed)],
      { timeout: TRIAL_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        fs.rmSync(work, { recursive: true, force: true });
        const e = err as (Error & { code?: number; signal?: string }) | null;
        resolve({ seed, code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      },
    );
  });
}

describe('store on a full disk (netns tier, root)', function () {
  this.timeout(90_000);
  const trials: Trial[] = [];

  before(function () {
    const probe = spawnSync('unshare', ['-m', 'true']);
    if (process.getuid?.() !== 0 || probe.status !== 0) {
      console.warn('SKIPPED store full-disk tests: they need root and unshare -m (mount namespaces)');
      this.skip();
    }
  });

  before(async () => {
    for (let i = 0; i < TRIALS; i += PARALLEL) {
      const seeds = Array.from({ length: Math.min(PARALLEL, TRIALS - i) }, (_, k) => 1000 + i + k);
      trials.push(...(await Promise.all(seeds.map(runTrial))));
    }
  });

  it(`${TRIALS} trials: no abort, every refusal the clear error, exactly the committed keys after space is freed`, () => {
    assert.equal(trials.length, TRIALS);
    for (const t of trials) {
      const where = `seed ${t.seed}: exit ${t.code} signal ${t.signal}\n${t.stdout}\n${t.stderr.slice(0, 2000)}`;
      assert.equal(t.code, 0, where);
      const [fillLine, verifyLine] = t.stdout.trim().split('\n');
      const fill = JSON.parse(fillLine) as FillResult;
      const verify = JSON.parse(verifyLine) as VerifyResult;
      assert.deepEqual(fill.unexpected, [], where);
      assert.ok(fill.refused > 0, `the disk never got full: ${where}`);
      assert.ok(fill.ok > 0, where);
      assert.equal(fill.readMismatches, 0, where);
      assert.ok(fill.bulkClean, `a refused bulk transaction left keys behind: ${where}`);
      assert.equal(fill.writeAfterFree, 'ok', where);
      assert.deepEqual(verify, { missing: 0, wrong: 0, extra: 0, writeOk: true }, where);
      assert.doesNotMatch(t.stderr, /No space left on device|free\(\)|malloc\(\)|corrupted/, where);
    }
  });
});
