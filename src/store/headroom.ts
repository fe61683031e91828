import fs from 'node:fs';
import { UnavailableError } from '../model/errors';

/**
 * Keeps LMDB from ever needing a new block of the file system.
 *
 * lmdb 3.5.6 cannot survive a page write that fails with ENOSPC: its commit formats the error into a
 * 100-byte malloc'd buffer that the text overruns (with uninitialised iovec sizes in it), so the heap
 * is corrupted and the process aborts a few calls later (20 of 20 trials on a 1 MiB tmpfs, with every
 * combination of sync options; useWritemap dies of SIGBUS instead). Checking the free space before a
 * transaction does not close the gap, as another process can take the space before the commit.
 *
 * So the data file is kept allocated (zero-filled, past LMDB's last page) ahead of what LMDB uses, and
 * a write transaction may only touch as many pages as that allocation still covers. LMDB then only
 * overwrites blocks the file already owns, and a full disk shows up in our own write of zeros, as a
 * plain ENOSPC that becomes an UnavailableError, before LMDB has written anything.
 */

/** Where LMDB stands in its data file (from its env info and main-tree stats). */
export interface LmdbUse {
  pageSize: number;
  /** The last page the committed state uses; the next new page goes after it. */
  lastPage: number;
  treeDepth: number;
  /** Branch, leaf and overflow pages of the main tree. */
  treePages: number;
}

/** The data file as the file system holds it. */
export interface DataFile {
  /** Bytes the file holds now. */
  size(): number;
  /** Appends zeros until the file holds `bytes`; throws (ENOSPC) when the disk runs out first. */
  growTo(bytes: number): void;
  /** Free bytes of the file system (for the error message). */
  freeBytes(): number;
}

/** Meta, free-list and root changes any commit may make, beyond the pages of the records. */
const COMMIT_PAGES = 8;

/**
 * The most pages a transaction of `ops` puts and deletes carrying `bytes` of keys and values can add
 * to the file, given the tree before it. Each op copies its path and may split every level and add a
 * root (the tree may grow two levels within one transaction); but however many ops, a transaction
 * cannot dirty more pages than the tree has afterwards. The replaced pages go on the free list.
 */
export function txPageBound(use: LmdbUse, ops: number, bytes: number): number {
  if (ops === 0) return 0;
  const depth = use.treeDepth + 2;
  const valuePages = Math.ceil(bytes / use.pageSize);
  const perOp = ops * (2 * depth + 1) + valuePages;
  // Leaves at least half full for the new bytes, and branches over them.
  const wholeTree = use.treePages + 4 * valuePages + depth + 1;
  const records = Math.min(perOp, wholeTree);
  return COMMIT_PAGES + records + Math.ceil(records / 256);
}

/** Pages the file holds past LMDB's last page. */
export function headroomPages(use: LmdbUse, fileBytes: number): number {
  return Math.floor(fileBytes / use.pageSize) - use.lastPage - 1;
}

/** The file size that gives `pages` pages of headroom. */
export function bytesForHeadroom(use: LmdbUse, pages: number): number {
  return (use.lastPage + 1 + pages) * use.pageSize;
}

export class Headroom {
  private fileBytes: number;

  /**
   * @param targetPages headroom kept ahead of LMDB whenever the disk has room for it: small
   *   transactions then need no file-system call at all.
   */
  constructor(
    private readonly file: DataFile,
    private readonly stateDir: string,
    private readonly targetPages = 64,
  ) {
    this.fileBytes = file.size();
  }

  /** Before a write transaction: tops the headroom up to the target when the disk allows. Never throws. */
  topUp(use: LmdbUse): void {
    if (headroomPages(use, this.fileBytes) >= this.targetPages) return;
    this.grow(bytesForHeadroom(use, this.targetPages));
  }

  /**
   * Inside a write transaction, before it touches more pages: throws UnavailableError (and the
   * transaction is aborted, nothing written) unless the file covers `pages` pages past LMDB's last.
   */
  require(use: LmdbUse, pages: number): void {
    if (headroomPages(use, this.fileBytes) >= pages) return;
    if (this.grow(bytesForHeadroom(use, pages))) return;
    throw new UnavailableError(fullMessage(this.stateDir, this.freeBytes(), pages * use.pageSize));
  }

  private grow(bytes: number): boolean {
    try {
      this.file.growTo(bytes);
      this.fileBytes = Math.max(this.fileBytes, bytes);
      return true;
    } catch {
      // A partial append stays: it is headroom too.
      this.fileBytes = Math.max(this.fileBytes, this.file.size());
      return false;
    }
  }

  private freeBytes(): number | undefined {
    try {
      return this.file.freeBytes();
    } catch {
      return undefined;
    }
  }
}

export function fullMessage(stateDir: string, freeBytes: number | undefined, neededBytes: number): string {
  const free = freeBytes === undefined ? 'unknown' : `${freeBytes}`;
  return (
    `state directory ${stateDir} is full (${free} bytes free, this change needs up to ${neededBytes}): ` +
    'tsnet did not store it; free space there and retry (no restart needed)'
  );
}

/** The LMDB data file on disk: grows by appending zeros, which allocates real blocks (no holes). */
export function dataFileOn(file: string, stateDir: string): DataFile {
  return {
    size: () => fs.statSync(file).size,
    growTo(bytes: number): void {
      const fd = fs.openSync(file, 'r+');
      try {
        let at = fs.fstatSync(fd).size;
        if (at >= bytes) return;
        const zeros = Buffer.alloc(Math.min(bytes - at, 1 << 20));
        while (at < bytes) {
          const written = fs.writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - at), at);
          if (written === 0) throw new Error(`no progress appending to ${file}`);
          at += written;
        }
      } finally {
        fs.closeSync(fd);
      }
    },
    freeBytes(): number {
      const s = fs.statfsSync(stateDir);
      return s.bavail * s.bsize;
    },
  };
}
