/** The lab's waiting helpers (test/lab/eventually.ts): what they return, how they fail, their bounds. */
import assert from 'node:assert/strict';
import { during, eventually } from '../../lab';

/** A check that always fails ("still <n>" on its n-th call), and how often it was called. */
function failingCheck(): { check: () => never; calls: () => number } {
  let calls = 0;
  return {
    check: () => {
      calls++;
      throw new Error(`still ${calls}`);
    },
    calls: () => calls,
  };
}

describe('lab: eventually', () => {
  it('returns what the check returned once it passes', async () => {
    let calls = 0;
    const value = await eventually(
      () => {
        calls++;
        if (calls < 3) throw new Error(`call ${calls}`);
        return 'ready';
      },
      { timeout: 1000, interval: 1 },
    );
    assert.equal(value, 'ready');
    assert.equal(calls, 3);
  });

  it('after the timeout, names what it waited for and the last failure', async () => {
    const failing = failingCheck();
    await assert.rejects(eventually(failing.check, { timeout: 30, interval: 5, what: 'the answer' }), (err: Error) => {
      assert.match(err.message, /^timed out after 30 ms waiting for the answer; last failure: still \d+$/);
      assert.ok(err.message.endsWith(`still ${failing.calls()}`), err.message);
      return true;
    });
  });

  it('calls the check at most once per interval, plus one at either end', async () => {
    const failing = failingCheck();
    await assert.rejects(eventually(failing.check, { timeout: 40, interval: 10 }));
    assert.ok(failing.calls() >= 2 && failing.calls() <= 6, `${failing.calls()} calls`);
  });

  it('refuses a timeout or interval that is not positive', async () => {
    await assert.rejects(eventually(() => 1, { timeout: 0 }), RangeError);
    await assert.rejects(eventually(() => 1, { timeout: 10, interval: 0 }), RangeError);
  });
});

describe('lab: during', () => {
  it('samples over the whole window, the first sample at once and the last at its end', async () => {
    const times: number[] = [];
    const start = Date.now();
    const samples = await during(40, () => times.push(Date.now() - start), { interval: 10 });
    assert.equal(samples, times.length);
    assert.ok(samples >= 2 && samples <= 6, `${samples} samples`);
    assert.ok(times[0]! < 10, `first sample at ${times[0]} ms`);
    assert.ok(times.at(-1)! >= 40, `last sample at ${times.at(-1)} ms`);
  });

  it('fails at the first sample that does not hold, naming what and when', async () => {
    let samples = 0;
    await assert.rejects(
      during(
        1000,
        () => {
          samples++;
          assert.ok(samples < 3, 'flood entries dropped');
        },
        { interval: 1, what: 'two flood entries' },
      ),
      /^Error: two flood entries stopped holding \d+ ms into a 1000 ms window: flood entries dropped$/,
    );
    assert.equal(samples, 3);
  });
});
