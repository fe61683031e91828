/**
 * One trial of full-disk.test.ts, run by the test inside `unshare -m` on a small tmpfs at DIR:
 *
 *   node full-disk.child.js fill DIR OUT SEED   create/delete-like writes until the disk is full (single
 *                                               transactions and groups through the group commit), with
 *                                               a neighbour that takes and frees space in between; then
 *                                               frees the space and writes again (same process)
 *   node full-disk.child.js verify DIR OUT      reopens the store: it must hold exactly OUT's keys
 *
 * Prints one JSON line (FillResult or VerifyResult); any other exit than 0 is a failure of the trial.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, kindOf } from '../../../src/model/errors';
import { Store, type Tx } from '../../../src/store/store';
import { prng } from '../../lab/prng';

export interface FillResult {
  ok: number;
  refused: number;
  /** Errors that were not the clear "state directory is full" UnavailableError. */
  unexpected: string[];
  /** Keys the store reads back differently from the committed writes, while full. */
  readMismatches: number;
  /** A bulk transaction refused for lack of space left none of its keys behind. */
  bulkClean: boolean;
  /** After the filler and the neighbour's file were removed, without a restart. */
  writeAfterFree: 'ok' | string;
  sampleMessage?: string;
}

export interface VerifyResult {
  missing: number;
  wrong: number;
  extra: number;
  writeOk: boolean;
}

const MAX_OPS = 4000;
const OPS_AFTER_FULL = 150;
const TIME_LIMIT_MS = 8000;

/** Realistic sizes: an endpoint record (~600 bytes of JSON) and an address key beside it. */
function endpoint(i: number): Record<string, unknown> {
  return {
    networkId: 'n'.repeat(64),
    id: String(i).padStart(64, 'e'),
    address: `10.0.${(i >> 8) & 255}.${i & 255}/16`,
    macAddress: '02:42:ac:11:00:02',
    macFromDriver: true,
    portBindings: [{ proto: 6, hostIP: '', hostPort: 8000 + (i % 1000), port: 80 }],
    exposedPorts: [{ proto: 6, port: 80 }],
    externalConnectivity: false,
    createdAt: new Date(0).toISOString(),
    datapath: { hostIf: `tsv${i}`, peerIf: `tsp${i}`, sandboxKey: `/var/run/docker/netns/${'x'.repeat(12)}` },
  };
}

function isFullError(err: unknown): boolean {
  return kindOf(err) === 'unavailable' && /^state directory .* is full \(\d+ bytes free/.test(describe(err));
}

/** Takes every free byte (like a log that fills the disk), or gives its space back. */
function neighbour(dir: string, random: () => number): void {
  const file = path.join(dir, 'neighbour');
  const r = random();
  if (r < 0.04) {
    const chunk = Buffer.alloc(64 << 10, 1);
    try {
      for (let i = 0; i < 64; i++) fs.appendFileSync(file, chunk);
    } catch {
      // ENOSPC: the disk is full now
    }
  } else if (r < 0.08) {
    fs.rmSync(file, { force: true });
  }
}

async function fill(dir: string, out: string, seed: number): Promise<FillResult> {
  const random = prng(seed);
  const stateDir = path.join(dir, 'state');
  const store = Store.open(stateDir);
  // The filler leaves the store about 300 KiB; the neighbour competes for it.
  const free = fs.statfsSync(dir);
  fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(free.bavail * free.bsize - (300 << 10), 1));
  const committed = new Map<string, string>();
  const result: FillResult = { ok: 0, refused: 0, unexpected: [], readMismatches: 0, bulkClean: false, writeAfterFree: '' };
  const started = Date.now();
  let firstRefusal = -1;
  let next = 0;
  for (let op = 0; op < MAX_OPS && Date.now() - started < TIME_LIMIT_MS; op++) {
    if (firstRefusal >= 0 && op - firstRefusal > OPS_AFTER_FULL) break;
    neighbour(dir, random);
    // Half the steps are a group of 1-6 writes through the group commit (the plugin socket's IPAM
    // path), in flight together; the others one synchronous transaction.
    const size = random() < 0.5 ? 1 + Math.floor(random() * 6) : 0;
    const keys = [...committed.keys()].filter((k) => k.startsWith('ep/'));
    const steps: Array<{ remove: boolean; id: string }> = [];
    for (let i = 0; i < Math.max(1, size); i++) {
      const remove = keys.length > 0 && random() < 0.35;
      const id = remove ? keys.splice(Math.floor(random() * keys.length), 1)[0]!.slice(3) : String(next++);
      steps.push({ remove, id });
    }
    const write = ({ remove, id }: { remove: boolean; id: string }) => (tx: Tx) => {
      if (remove) {
        tx.del(`ep/${id}`);
        tx.del(`addr/${id}`);
      } else {
        tx.put(`ep/${id}`, endpoint(Number(id)));
        tx.put(`addr/${id}`, id);
      }
    };
    const outcomes: Array<PromiseSettledResult<void>> =
      size === 0
        ? [(() => {
            try {
              store.transact(write(steps[0]!));
              return { status: 'fulfilled', value: undefined } as const;
            } catch (reason) {
              return { status: 'rejected', reason } as const;
            }
          })()]
        : await Promise.allSettled(steps.map((step) => store.transactGrouped(write(step))));
    outcomes.forEach((outcome, i) => {
      const { remove, id } = steps[i]!;
      if (outcome.status === 'fulfilled') {
        if (remove) {
          committed.delete(`ep/${id}`);
          committed.delete(`addr/${id}`);
        } else {
          committed.set(`ep/${id}`, String(id).padStart(64, 'e'));
          committed.set(`addr/${id}`, id);
        }
        result.ok++;
      } else {
        const err = outcome.reason;
        if (firstRefusal < 0) firstRefusal = op;
        if (isFullError(err)) {
          result.refused++;
          result.sampleMessage ??= describe(err);
        } else {
          result.unexpected.push(describe(err));
        }
      }
    });
  }

  // Fill what is left, then a transaction far larger than any headroom: refused whole.
  try {
    fs.appendFileSync(path.join(dir, 'neighbour'), Buffer.alloc(1 << 20, 1));
  } catch {
    // full
  }
  try {
    store.transact((tx) => {
      for (let i = 0; i < 2000; i++) tx.put(`bulk/${i}`, endpoint(i));
    });
    for (let i = 0; i < 2000; i++) committed.set(`bulk/${i}`, String(i).padStart(64, 'e'));
  } catch (err) {
    if (!isFullError(err)) result.unexpected.push(`bulk: ${describe(err)}`);
  }
  result.bulkClean = store.range('bulk/').length === 0 || committed.has('bulk/0');

  const whileFull = mismatches(store, committed);
  result.readMismatches = whileFull.missing + whileFull.wrong + whileFull.extra;

  fs.rmSync(path.join(dir, 'filler'));
  fs.rmSync(path.join(dir, 'neighbour'), { force: true });
  try {
    store.transact((tx) => tx.put('after/free', 'yes'));
    committed.set('after/free', 'yes');
    result.writeAfterFree = 'ok';
  } catch (err) {
    result.writeAfterFree = describe(err);
  }
  fs.writeFileSync(out, JSON.stringify([...committed]));
  await store.close();
  return result;
}

function valueOf(key: string, value: unknown): string | undefined {
  if (key.startsWith('ep/') || key.startsWith('bulk/')) return (value as { id?: string } | undefined)?.id;
  return value as string | undefined;
}

function mismatches(store: Store, committed: Map<string, string>): VerifyResult {
  const r: VerifyResult = { missing: 0, wrong: 0, extra: 0, writeOk: false };
  for (const [key, expected] of committed) {
    const value = store.get(key);
    if (value === undefined) r.missing++;
    else if (valueOf(key, value) !== expected) r.wrong++;
  }
  for (const [key] of store.range('')) {
    if (!key.startsWith('meta/') && !committed.has(key)) r.extra++;
  }
  return r;
}

async function verify(dir: string, out: string): Promise<VerifyResult> {
  const committed = new Map<string, string>(JSON.parse(fs.readFileSync(out, 'utf8')) as Array<[string, string]>);
  const store = Store.open(path.join(dir, 'state'));
  const r = mismatches(store, committed);
  try {
    store.transact((tx) => tx.put('verify/write', 1));
    r.writeOk = store.get('verify/write') === 1;
  } catch {
    r.writeOk = false;
  }
  await store.close();
  return r;
}

async function main(): Promise<void> {
  const [mode, dir, out, seed] = process.argv.slice(2);
  const result = mode === 'fill' ? await fill(dir, out, Number(seed)) : await verify(dir, out);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
