import fs from 'node:fs';
import v8 from 'node:v8';
import type { Logger } from '../log';

/**
 * What the process's memory is made of, in KiB: resident memory split as the kernel counts it, and
 * V8's heap. RSS alone does not tell a leak from V8's sizing: the young generation's committed size
 * grows to 2 x 16 MiB under allocation and shrinks again (Node 20 defaults), which moves RssAnon by
 * ~30 MiB with no change in what is live; RssFile is the node binary and the libraries mapped (LMDB's
 * map counts there too, as page cache).
 */
export interface MemoryReport {
  rssKiB: number;
  rssAnonKiB: number;
  rssFileKiB: number;
  rssShmemKiB: number;
  /** V8: what the objects use, and what V8 has committed for them. */
  heapUsedKiB: number;
  heapTotalKiB: number;
  /** The young generation's committed size (part of heapTotal). */
  newSpaceKiB: number;
  /** Memory of Buffers and other objects outside the V8 heap. */
  externalKiB: number;
}

const kib = (bytes: number) => Math.round(bytes / 1024);

export function memoryReport(): MemoryReport {
  const status = readStatus();
  const usage = process.memoryUsage();
  const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return {
    rssKiB: status.VmRSS ?? kib(usage.rss),
    rssAnonKiB: status.RssAnon ?? 0,
    rssFileKiB: status.RssFile ?? 0,
    rssShmemKiB: status.RssShmem ?? 0,
    heapUsedKiB: kib(usage.heapUsed),
    heapTotalKiB: kib(usage.heapTotal),
    newSpaceKiB: kib(newSpace?.space_size ?? 0),
    externalKiB: kib(usage.external),
  };
}

/** The kB fields of /proc/self/status that memoryReport uses (none where there is no /proc). */
function readStatus(): Partial<Record<'VmRSS' | 'RssAnon' | 'RssFile' | 'RssShmem', number>> {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/status', 'utf8');
  } catch {
    return {};
  }
  const out: Partial<Record<'VmRSS' | 'RssAnon' | 'RssFile' | 'RssShmem', number>> = {};
  for (const m of text.matchAll(/^(VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB$/gm)) out[m[1] as keyof typeof out] = Number(m[2]);
  return out;
}

/** The log line's message; bench/soak looks for it. */
export const MEMORY_REPORT_MESSAGE = 'memory report';

/**
 * Logs a memory report (info) on every SIGUSR2: `kill -USR2 <pid>` tells an operator, or a bench,
 * whether a grown RSS is live heap or V8's sizing; `more()` adds figures of its own (the watchdog's:
 * fds, event-loop delay, store size). Returns the function that stops listening.
 */
export function reportMemoryOnSignal(log: Logger, signal: NodeJS.Signals = 'SIGUSR2', more: () => object = () => ({})): () => void {
  const report = () => log.info(MEMORY_REPORT_MESSAGE, { ...memoryReport(), ...more() });
  process.on(signal, report);
  return () => void process.off(signal, report);
}
