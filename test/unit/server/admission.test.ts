/** How many calls are served at once (src/server/admission.ts), on the fake clock. */
import assert from 'node:assert/strict';
import { Admission, type Refusal } from '../../../src/server/admission';
import { fakeClock } from '../../lab';

describe('server: admission of calls', () => {
  /** One call: when it was admitted (its release) or refused (why). */
  function call(a: Admission) {
    const c: { release?: () => void; refused?: Refusal; cancel: () => void } = { cancel: () => undefined };
    c.cancel = a.enter(
      (release) => (c.release = release),
      (why) => (c.refused = why),
    );
    return c;
  }

  it('serves inFlight at once, queues up to queued in arrival order, refuses the rest at once', () => {
    const clock = fakeClock();
    const a = new Admission({ inFlight: 2, queued: 3, queueWaitMs: 1000 }, clock);
    const calls = Array.from({ length: 7 }, () => call(a));
    assert.deepEqual(calls.map((c) => (c.release ? 'in' : c.refused ?? 'waiting')), ['in', 'in', 'waiting', 'waiting', 'waiting', 'queue full', 'queue full']);
    assert.deepEqual(a.counts, { inFlight: 2, queued: 3 });
    assert.equal(clock.countTimers(), 3, 'one timer per waiting call, none for the others');
    calls[0]!.release!();
    calls[0]!.release!(); // idempotent: frees one slot only
    assert.ok(calls[2]!.release, 'the first waiting call is next');
    assert.equal(calls[3]!.release, undefined);
    assert.deepEqual(a.counts, { inFlight: 2, queued: 2 });
    assert.equal(clock.countTimers(), 2);
  });

  it('a call that waited queueWaitMs is refused, and one whose caller left gives its place up', () => {
    const clock = fakeClock();
    const a = new Admission({ inFlight: 1, queued: 2, queueWaitMs: 1000 }, clock);
    const first = call(a);
    const left = call(a);
    const late = call(a);
    left.cancel();
    assert.deepEqual(a.counts, { inFlight: 1, queued: 1 });
    clock.tick(999);
    assert.equal(late.refused, undefined);
    clock.tick(1);
    assert.equal(late.refused, 'waited too long');
    assert.equal(left.refused, undefined, 'a call that left is told nothing');
    assert.deepEqual(a.counts, { inFlight: 1, queued: 0 });
    assert.equal(clock.countTimers(), 0);
    first.release!();
    assert.deepEqual(a.counts, { inFlight: 0, queued: 0 });
    assert.equal(left.release, undefined);
    assert.ok(call(a).release, 'free again');
  });

  it('a bounded flood: 10,000 calls hold at most inFlight + queued places and as many timers', () => {
    const clock = fakeClock();
    const a = new Admission({ inFlight: 32, queued: 128, queueWaitMs: 30_000 }, clock);
    const calls = Array.from({ length: 10_000 }, () => call(a));
    assert.equal(calls.filter((c) => c.release).length, 32);
    assert.equal(calls.filter((c) => c.refused === 'queue full').length, 10_000 - 32 - 128);
    assert.equal(clock.countTimers(), 128);
    for (const c of calls.filter((c) => c.release)) c.release!();
    assert.deepEqual(a.counts, { inFlight: 32, queued: 96 }, 'each release admits the next waiting call');
  });
});
