import assert from 'node:assert/strict';
import { PeriodicTask } from '../../../src/model/periodic-task';
import { fakeClock } from '../../lab/fake-clock';

describe('periodic task (background passes on a schedule)', () => {
  it('runs the first pass at once after start, then each next one the asked delay after the last ended', async () => {
    const clock = fakeClock();
    const at: number[] = [];
    const delays = [100, 300];
    const task = new PeriodicTask({ pass: async () => void at.push(clock.now()), nextDelayMs: () => delays.shift() ?? 1000, onError: () => assert.fail('no error'), clock });
    task.start();
    await clock.tickAsync(0);
    await clock.tickAsync(100);
    await clock.tickAsync(300);
    await clock.tickAsync(999);
    assert.deepEqual(at, [0, 100, 400]);
    await task.stop();
    assert.equal(clock.countTimers(), 0, 'stop leaves no timer');
    await clock.tickAsync(10_000);
    assert.deepEqual(at, [0, 100, 400], 'no pass after stop');
  });

  it('a pass that rejects is handed to onError and the next pass still comes', async () => {
    const clock = fakeClock();
    const errors: unknown[] = [];
    let passes = 0;
    const task = new PeriodicTask({
      pass: async () => {
        passes++;
        if (passes === 1) throw new Error('a bug');
      },
      nextDelayMs: () => 50,
      onError: (err) => errors.push(err),
      clock,
    });
    task.start();
    await clock.tickAsync(0);
    await clock.tickAsync(50);
    assert.equal(passes, 2);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /a bug/);
    await task.stop();
  });

  it('runOnce while a pass is in flight shares it; stop waits for it', async () => {
    let release!: () => void;
    let passes = 0;
    let ended = false;
    const task = new PeriodicTask({
      pass: () => {
        passes++;
        return new Promise<void>((resolve) => (release = resolve)).then(() => void (ended = true));
      },
      nextDelayMs: () => 1000,
      onError: () => assert.fail('no error'),
      clock: fakeClock(),
    });
    const first = task.runOnce();
    const second = task.runOnce();
    assert.equal(first, second);
    assert.equal(passes, 1);
    const stopped = task.stop();
    release();
    await stopped;
    assert.ok(ended, 'stop resolved after the pass in flight ended');
  });
});
