import assert from 'node:assert/strict';
import { UnavailableError } from '../../../src/model/errors';
import { bytesForHeadroom, headroomPages, Headroom, txPageBound, type DataFile, type LmdbUse } from '../../../src/store/headroom';

const PAGE = 4096;

function use(lastPage: number, o: Partial<LmdbUse> = {}): LmdbUse {
  return { pageSize: PAGE, lastPage, treeDepth: 2, treePages: 10, ...o };
}

/** A data file on a disk of `capacity` bytes (the store's share); growTo stops where the disk does. */
class FakeFile implements DataFile {
  growCalls = 0;
  /** What statfs reports (other files share the disk). */
  free = 0;
  constructor(
    public bytes: number,
    public capacity: number,
  ) {}
  size(): number {
    return this.bytes;
  }
  growTo(bytes: number): void {
    this.growCalls++;
    this.bytes = Math.min(Math.max(this.bytes, bytes), this.capacity);
    if (this.bytes < bytes) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  }
  freeBytes(): number {
    return this.free;
  }
}

describe('store headroom', () => {
  it('counts the pages past the last used one', () => {
    assert.equal(headroomPages(use(2), 3 * PAGE), 0);
    assert.equal(headroomPages(use(2), 10 * PAGE + 100), 7);
    assert.equal(bytesForHeadroom(use(2), 5), 8 * PAGE);
  });

  it('bounds a transaction: nothing for no op, more for more ops and bytes, never past the whole tree', () => {
    assert.equal(txPageBound(use(50), 0, 0), 0);
    const one = txPageBound(use(50), 1, 600);
    assert.ok(one >= 8 + 2 * 2 + 1, `one op: ${one}`);
    assert.ok(txPageBound(use(50), 2, 1200) > one);
    assert.ok(txPageBound(use(50), 1, 40_000) > one, 'big values take overflow pages');
    // 10,000 small ops on a 10-page tree cannot dirty 10,000 paths.
    const bulk = txPageBound(use(50), 10_000, 10_000 * 700);
    assert.ok(bulk < 10_000 * 9, `bulk: ${bulk}`);
    assert.ok(bulk >= 10 + Math.ceil((10_000 * 700) / PAGE), `bulk: ${bulk}`);
  });

  it('tops up to the target while the disk has room, without a file-system call once there', () => {
    const file = new FakeFile(3 * PAGE, 1 << 30);
    const h = new Headroom(file, '/state', 16);
    h.topUp(use(2));
    assert.equal(file.bytes, bytesForHeadroom(use(2), 16));
    h.topUp(use(2));
    h.require(use(2), 16);
    assert.equal(file.growCalls, 1);
  });

  it('a failed top-up does not throw, and what it did allocate counts', () => {
    const file = new FakeFile(3 * PAGE, 9 * PAGE);
    const h = new Headroom(file, '/state', 16);
    h.topUp(use(2));
    assert.equal(file.bytes, 9 * PAGE);
    h.require(use(2), 6); // 6 pages past page 2 are in the file
  });

  it('refuses with UnavailableError naming the directory and its free bytes when the disk is full', () => {
    const file = new FakeFile(3 * PAGE, 5 * PAGE);
    file.free = 1000;
    const h = new Headroom(file, '/var/lib/tsnet', 16);
    assert.throws(
      () => h.require(use(2), 20),
      (err: unknown) =>
        err instanceof UnavailableError &&
        /^state directory \/var\/lib\/tsnet is full \(1000 bytes free, this change needs up to 81920\)/.test(err.message),
    );
  });

  it('grows again once space is freed, without a new Headroom', () => {
    const file = new FakeFile(3 * PAGE, 4 * PAGE);
    const h = new Headroom(file, '/state', 16);
    assert.throws(() => h.require(use(2), 8), UnavailableError);
    file.capacity = 1 << 20;
    h.require(use(2), 8);
    assert.ok(headroomPages(use(2), file.bytes) >= 8);
  });
});
