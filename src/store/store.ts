import fs from 'node:fs';
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { dataFileOn, Headroom, txPageBound, type LmdbUse } from './headroom';

/**
 * The embedded transactional store (LMDB). Keys are strings "<kind>/<id...>"; values are plain
 * JSON-shaped objects. Every write goes through `transact`, a synchronous write transaction that is
 * committed before it returns, or `transactGrouped`, whose promise settles once the group commit that
 * carried it is done; either way a change Docker is told about has already reached the store.
 */
export const SCHEMA_VERSION = 1;

export interface Tx {
  get<T>(key: string): T | undefined;
  put(key: string, value: unknown): void;
  del(key: string): void;
  /** Entries whose key starts with prefix, in key order. */
  range<T>(prefix: string): Array<[string, T]>;
  /**
   * Registers how to undo an in-memory change made along with this transaction's writes: run (last
   * registered first) when the writes do not commit, so memory never holds what the store lost.
   */
  onAbort(undo: () => void): void;
}

/** A write waiting for the next group commit (transactGrouped). */
interface GroupedWrite {
  fn: (tx: Tx) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** The most writes one group commit carries; the rest go into the next. */
const MAX_GROUP = 4096;

export type Migration = (tx: Tx) => void;

export class Store {
  private constructor(
    private readonly db: RootDatabase,
    private readonly headroom: Headroom,
    private readonly dataPath: string,
    private readonly dir: string,
  ) {}

  /**
   * Opens (creating if needed) the store in dir and migrates the schema. One process at a time: the
   * daemon takes the directory's StateDirLock first.
   */
  static open(dir: string, migrations: Record<number, Migration> = {}): Store {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    {
      // noMetaSync: each commit still flushes its data pages, but the meta page is not synced on its
      // own. LMDB keeps atomicity and integrity; only an OS crash (not a tsnet crash: the page cache
      // survives kill -9) can lose the very last commit. It halves the cost of a commit (one fsync).
      // maxReaders 32 (tsnet has one thread): the lock file then fits in its first page, which LMDB
      // writes at open, so a reader never faults on an unallocated page of it when the disk is full.
      const envDir = path.join(dir, 'tsnet.mdb');
      const db = open({ path: envDir, compression: false, noSubdir: false, noMetaSync: true, maxReaders: 32 });
      const dataPath = path.join(envDir, 'data.mdb');
      const store = new Store(db, new Headroom(dataFileOn(dataPath, dir), dir), dataPath, dir);
      store.migrate(migrations);
      return store;
    }
  }

  get<T>(key: string): T | undefined {
    return this.db.get(key) as T | undefined;
  }

  range<T>(prefix: string): Array<[string, T]> {
    const out: Array<[string, T]> = [];
    for (const { key, value } of this.db.getRange({ start: prefix, end: prefix + '\uffff' })) {
      out.push([String(key), value as T]);
    }
    return out;
  }

  /** How many keys start with prefix (the values are not read). */
  count(prefix: string): number {
    return this.db.getKeysCount({ start: prefix, end: prefix + '\uffff' });
  }

  /**
   * Runs fn in one write transaction. When the state directory's disk cannot hold the change, a put or
   * del throws UnavailableError before anything is written, and the whole transaction is aborted.
   */
  transact<R>(fn: (tx: Tx) => R): R {
    const undos: Array<() => void> = [];
    try {
      return this.inTransaction((tx) => fn({ ...tx, onAbort: (undo) => void undos.push(undo) }));
    } catch (err) {
      runUndos(undos);
      throw err;
    }
  }

  /**
   * Group commit: fn runs, with the other writes queued in the same event-loop turn (and those queued
   * while a commit ran), in one write transaction, in the order they were queued; each sees the writes
   * of those before it. The promise settles after that transaction has committed, which includes
   * LMDB's flush of the data pages to disk (as for transact), so an answer sent after it is durable.
   * A fn that throws has its onAbort undos run and rejects alone; the others still commit (if it had
   * written already, the transaction is dropped and the others run again without it, so fn must change
   * nothing outside the store but what it undoes in onAbort). If the commit itself fails, every fn of
   * the group rejects with that error and their undos run. One commit (one fdatasync) serves the group.
   */
  transactGrouped<R>(fn: (tx: Tx) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.groupScheduled) {
        this.groupScheduled = true;
        setImmediate(() => this.commitGroup());
      }
    });
  }

  private queued: GroupedWrite[] = [];
  private groupScheduled = false;

  private commitGroup(): void {
    let group = this.queued.splice(0, MAX_GROUP);
    this.groupScheduled = this.queued.length > 0;
    if (this.groupScheduled) setImmediate(() => this.commitGroup());
    // A write that throws before writing anything just rejects. One that throws after writing aborts the
    // whole transaction (undoing the group's in-memory changes too); it rejects and the rest run again
    // without it. Writes are plain functions of the store and of memory they undo on abort, so a rerun
    // gives what one without the failed write would have given.
    while (group.length > 0) {
      const outcomes: Array<{ ok: true; value: unknown; undos: Array<() => void> } | { ok: false; err: unknown }> = [];
      let poisoned: { index: number; err: unknown } | undefined;
      try {
        this.inTransaction((tx) => {
          for (const [index, write] of group.entries()) {
            const undos: Array<() => void> = [];
            let wrote = false;
            try {
              const value = write.fn({
                get: tx.get,
                range: tx.range,
                put: (key, value) => {
                  wrote = true;
                  tx.put(key, value);
                },
                del: (key) => {
                  wrote = true;
                  tx.del(key);
                },
                onAbort: (undo) => void undos.push(undo),
              });
              outcomes.push({ ok: true, value, undos });
            } catch (err) {
              runUndos(undos);
              if (wrote) {
                poisoned = { index, err };
                throw err;
              }
              outcomes.push({ ok: false, err });
            }
          }
        });
      } catch (err) {
        // Nothing of this attempt was stored: its in-memory changes go too.
        for (const outcome of outcomes.reverse()) if (outcome.ok) runUndos(outcome.undos);
        if (poisoned) {
          group[poisoned.index]!.reject(poisoned.err);
          group = group.filter((_, i) => i !== poisoned!.index);
          continue;
        }
        // The commit failed (or the transaction could not start): every write of the group fails with it.
        for (const write of group) write.reject(err);
        return;
      }
      group.forEach((write, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) write.resolve(outcome.value);
        else write.reject(outcome.err);
      });
      return;
    }
  }

  /** One synchronous write transaction with the headroom checks (see transact). */
  private inTransaction<R>(fn: (tx: Omit<Tx, 'onAbort'>) => R): R {
    const use = this.lmdbUse();
    this.headroom.topUp(use);
    let ops = 0;
    let bytes = 0;
    const admit = (key: string, value?: unknown) => {
      ops += 1;
      bytes += Buffer.byteLength(key) + (value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value) ?? ''));
      this.headroom.require(use, txPageBound(use, ops, bytes));
    };
    return this.db.transactionSync(() =>
      fn({
        get: <T>(key: string) => this.db.get(key) as T | undefined,
        put: (key, value) => {
          admit(key, value);
          this.db.putSync(key, value);
        },
        del: (key) => {
          admit(key);
          this.db.removeSync(key);
        },
        range: <T>(prefix: string) => this.range<T>(prefix),
      }),
    );
  }

  async close(): Promise<void> {
    // Writes still queued for a group commit are committed first.
    while (this.queued.length > 0) this.commitGroup();
    await this.db.close();
  }

  /**
   * How big the store is, in bytes: what LMDB uses (up to its last page), what the data file holds
   * (the used part plus the preallocated headroom), and what the state directory's file system has free
   * (undefined when it cannot be read). For the watchdog; never throws.
   */
  size(): { usedBytes: number; fileBytes: number; diskFreeBytes?: number } {
    const use = this.lmdbUse();
    let fileBytes = 0;
    let diskFreeBytes: number | undefined;
    try {
      fileBytes = fs.statSync(this.dataPath).size;
      const fsStats = fs.statfsSync(this.dir);
      diskFreeBytes = fsStats.bavail * fsStats.bsize;
    } catch {
      // reported as unknown
    }
    return { usedBytes: (use.lastPage + 1) * use.pageSize, fileBytes, diskFreeBytes };
  }

  private lmdbUse(): LmdbUse {
    const stats = this.db.getStats() as {
      pageSize: number;
      lastPageNumber: number;
      treeDepth: number;
      treeBranchPageCount: number;
      treeLeafPageCount: number;
      overflowPages: number;
    };
    return {
      pageSize: stats.pageSize,
      lastPage: stats.lastPageNumber,
      treeDepth: stats.treeDepth,
      treePages: stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages,
    };
  }

  private migrate(migrations: Record<number, Migration>): void {
    this.transact((tx) => {
      const stored = tx.get<number>('meta/schema');
      let version = stored ?? 0;
      if (version > SCHEMA_VERSION) {
        throw new Error(`state was written by a newer tsnet (schema ${version} > ${SCHEMA_VERSION}); upgrade tsnet`);
      }
      if (version === 0 && tx.range('').length === 0) version = SCHEMA_VERSION;
      while (version < SCHEMA_VERSION) {
        const step = migrations[version + 1];
        if (!step) throw new Error(`no migration from schema ${version} to ${version + 1}`);
        step(tx);
        version += 1;
      }
      // Nothing to write when nothing changed: a store on a full disk still opens, for reads.
      if (stored !== version) tx.put('meta/schema', version);
    });
  }
}

/** Runs in-memory undos, last registered first. */
function runUndos(undos: Array<() => void>): void {
  for (let i = undos.length - 1; i >= 0; i--) undos[i]!();
}
