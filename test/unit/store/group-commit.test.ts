// Store.transactGrouped (src/store/store.ts): writes queued in one event-loop turn share one LMDB
// transaction; each settles after that commit; a write that throws is undone alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../../src/store/store';

describe('store: group commit', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-group-'));
    store = Store.open(dir);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes of one turn run in order in one transaction, each seeing those before it, and are stored when they settle', async () => {
    const seen: Array<number | undefined> = [];
    const writes = [1, 2, 3].map((n) =>
      store.transactGrouped((tx) => {
        seen.push(tx.get<number>('k/counter'));
        tx.put('k/counter', n);
        tx.put(`k/${n}`, n);
        return n * 10;
      }),
    );
    assert.deepEqual(seen, [], 'nothing runs before the turn ends');
    assert.deepEqual(await Promise.all(writes), [10, 20, 30]);
    assert.deepEqual(seen, [undefined, 1, 2]);
    assert.deepEqual(store.range('k/'), [['k/1', 1], ['k/2', 2], ['k/3', 3], ['k/counter', 3]]);
  });

  it('a write that throws is undone alone (its puts and deletes dropped, its onAbort undos run); the others commit, rerun without it', async () => {
    store.transact((tx) => tx.put('k/kept', 'before'));
    const memory = new Set<string>();
    const first = store.transactGrouped((tx) => {
      tx.put('k/a', 1);
      memory.add('a');
      tx.onAbort(() => memory.delete('a'));
    });
    const failing = store.transactGrouped((tx) => {
      tx.put('k/kept', 'changed');
      tx.put('k/b', 2);
      memory.add('b');
      tx.onAbort(() => memory.delete('b'));
      tx.del('k/a');
      throw new Error('refused');
    });
    const last = store.transactGrouped((tx) => {
      assert.equal(tx.get('k/a'), 1, 'the failed write\'s delete was put back before the next one ran');
      tx.put('k/c', 3);
    });
    await first;
    await assert.rejects(failing, /refused/);
    await last;
    assert.deepEqual(store.range('k/'), [['k/a', 1], ['k/c', 3], ['k/kept', 'before']]);
    assert.deepEqual([...memory], ['a']);
  });

  it('close() commits what is still queued', async () => {
    const pending = store.transactGrouped((tx) => tx.put('k/late', true));
    await store.close();
    await pending;
    store = Store.open(dir);
    assert.equal(store.get('k/late'), true);
  });
});
