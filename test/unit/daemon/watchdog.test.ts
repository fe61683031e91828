/** The watchdog's thresholds and its rate-limited warnings (src/daemon/watchdog.ts), on the fake clock. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RelayBudget } from '../../../src/firewall/relay-budget';
import {
  crossings,
  fdSoftLimit,
  openFdCount,
  ProcessFigureSource,
  type ProcessFigures,
  Watchdog,
  WATCHDOG_THRESHOLDS,
} from '../../../src/daemon/watchdog';
import { Store } from '../../../src/store/store';
import { capturingLogger, fakeClock } from '../../lab';

const CALM: ProcessFigures = { openFds: 30, fdSoftLimit: 1024, eventLoopDelayP99Ms: 12, eventLoopDelayMaxMs: 20, storeFileKiB: 1024, diskFreeKiB: 1 << 20 };

describe('daemon: watchdog', () => {
  it('thresholds: fds at 80 % of the soft limit, event-loop p99 of 500 ms, less than 16 MiB free', () => {
    const t = WATCHDOG_THRESHOLDS;
    assert.deepEqual(crossings(CALM, t), []);
    assert.deepEqual(crossings({ ...CALM, openFds: 818 }, t), [], '818 < 819.2');
    assert.deepEqual(crossings({ ...CALM, openFds: 820 }, t), [{ kind: 'fds', figures: { openFds: 820, fdSoftLimit: 1024 } }]);
    assert.deepEqual(crossings({ ...CALM, openFds: 1_000_000, fdSoftLimit: undefined }, t), [], 'no limit, nothing to be near');
    assert.deepEqual(crossings({ ...CALM, eventLoopDelayP99Ms: 500, eventLoopDelayMaxMs: 900 }, t), [
      { kind: 'event-loop-delay', figures: { eventLoopDelayP99Ms: 500, eventLoopDelayMaxMs: 900 } },
    ]);
    assert.deepEqual(crossings({ ...CALM, diskFreeKiB: 100 }, t), [{ kind: 'disk-free', figures: { diskFreeKiB: 100, storeFileKiB: 1024 } }]);
    assert.deepEqual(crossings({ ...CALM, diskFreeKiB: undefined }, t), []);
  });

  it('the soft fd limit from /proc/self/limits; unlimited is none', () => {
    const limits = (v: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${v}                 524288               files\n`;
    assert.equal(fdSoftLimit(limits('1024')), 1024);
    assert.equal(fdSoftLimit(limits('unlimited')), undefined);
    assert.equal(fdSoftLimit('garbage'), undefined);
    assert.equal(typeof fdSoftLimit(), 'number', 'this process has one');
  });

  it('samples every interval and warns at most once a minute per kind, with the figure and the hits since', () => {
    const clock = fakeClock(1_000_000);
    const { log, records } = capturingLogger('info');
    let figures = CALM;
    const windows: boolean[] = [];
    const dog = new Watchdog({ log, clock, intervalMs: 10_000, source: { read: (endWindow) => (windows.push(endWindow), figures) } });
    dog.start();
    clock.tick(30_000);
    assert.equal(windows.length, 3);
    assert.ok(windows.every(Boolean), 'each periodic sample ends the event-loop window');
    assert.deepEqual(records(), [], 'calm: nothing logged');

    figures = { ...CALM, openFds: 900 };
    clock.tick(10_000);
    figures = { ...CALM, openFds: 950, eventLoopDelayP99Ms: 700, eventLoopDelayMaxMs: 1200 };
    clock.tick(50_000); // 5 samples, all crossing
    const warnings = () => records().filter((r) => r.level === 'warn');
    assert.deepEqual(
      warnings().map((r) => [r.message, r.openFds ?? r.eventLoopDelayP99Ms, r.hits]),
      [
        ['watchdog: open file descriptors near the soft limit', 900, 1],
        ['watchdog: event loop delayed', 700, 1],
      ],
    );
    clock.tick(10_000); // a minute after the first fd warning
    assert.deepEqual(
      warnings().slice(2).map((r) => [r.message, r.openFds, r.hits]),
      [['watchdog: open file descriptors near the soft limit', 950, 6]],
      'the second line a minute later, counting the samples in between',
    );
    dog.stop();
    assert.equal(clock.countTimers(), 0);
  });

  it('figures() for SIGUSR2 keeps the event-loop window open and falls back to the last window', () => {
    const clock = fakeClock();
    const { log } = capturingLogger('info');
    const reads: boolean[] = [];
    let delay = 40;
    const dog = new Watchdog({ log, clock, source: { read: (endWindow) => (reads.push(endWindow), { ...CALM, eventLoopDelayMaxMs: delay }) } });
    dog.check();
    delay = 0; // nothing measured yet in the new window
    assert.equal(dog.figures().eventLoopDelayMaxMs, 40);
    assert.deepEqual(reads, [true, false]);
  });

  it("the process's own figures: fds, soft limit, event-loop delay and a store's size", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-watchdog-'));
    const store = Store.open(dir);
    const source = new ProcessFigureSource(store);
    try {
      store.transact((tx) => tx.put('k', { v: 'x'.repeat(10_000) }));
      await new Promise((resolve) => setTimeout(resolve, 60)); // a few samples of the 20 ms histogram
      const f = source.read(true);
      assert.ok(f.openFds > 0 && Math.abs(f.openFds - openFdCount()) <= 2, `openFds ${f.openFds}`);
      assert.ok(f.fdSoftLimit! > f.openFds);
      assert.ok(f.eventLoopDelayMaxMs >= 0 && f.eventLoopDelayP99Ms <= f.eventLoopDelayMaxMs);
      assert.ok(f.storeUsedKiB! >= 10 && f.storeUsedKiB! <= f.storeFileKiB!, `store ${f.storeUsedKiB} of ${f.storeFileKiB} KiB`);
      assert.ok(f.diskFreeKiB! > 0);
      assert.equal(f.relayFdsInUse, undefined, 'no relays given, no relay figures');
    } finally {
      source.stop();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the relays' descriptors against their budget, when the daemon has relays", () => {
    const budget = RelayBudget.forSoftLimit(160);
    const source = new ProcessFigureSource(undefined, budget);
    try {
      assert.ok(budget.take(2));
      assert.deepEqual([source.read(false).relayFdsInUse, source.read(false).relayFdBudget], [2, 48]);
      const unlimited = new ProcessFigureSource(undefined, RelayBudget.unlimited());
      assert.deepEqual([unlimited.read(false).relayFdsInUse, unlimited.read(false).relayFdBudget], [0, undefined]);
      unlimited.stop();
    } finally {
      source.stop();
    }
  });
});
