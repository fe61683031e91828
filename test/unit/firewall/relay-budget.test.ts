import assert from 'node:assert/strict';
import { RELAY_BUDGET, RelayBudget } from '../../../src/firewall/relay-budget';
import type { Logger } from '../../../src/log';

function warnings(): { log: Logger; lines: Array<{ message: string; meta: Record<string, unknown> }> } {
  const lines: Array<{ message: string; meta: Record<string, unknown> }> = [];
  const log = { warn: (message: string, meta: Record<string, unknown>) => lines.push({ message, meta }), info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
  return { log, lines };
}

describe('relay descriptor budget', () => {
  it('is a share of the soft fd limit minus a reserve; unlimited without a known limit', () => {
    assert.deepEqual(RELAY_BUDGET, { share: 0.5, reserve: 64 });
    assert.equal(RelayBudget.forSoftLimit(160).limit, 48);
    assert.equal(RelayBudget.forSoftLimit(256).limit, 96);
    assert.equal(RelayBudget.forSoftLimit(1024).limit, 480);
    assert.equal(RelayBudget.forSoftLimit(1_048_576).limit, 524_256);
    assert.equal(RelayBudget.forSoftLimit(40).limit, 0, 'a limit below the reserve leaves the relays nothing');
    assert.equal(RelayBudget.forSoftLimit(undefined).limit, Infinity);
  });

  it('takes and gives back descriptors; a refusal is logged once a minute with the figures', () => {
    let t = 0;
    const { log, lines } = warnings();
    const budget = new RelayBudget(5, log, { fdSoftLimit: 74 }, () => t);
    assert.ok(budget.take(2));
    assert.ok(budget.take(2));
    assert.ok(!budget.take(2, { port: 8080, proto: 'tcp' }), 'over the budget');
    assert.ok(budget.take(1), 'what fits still fits');
    assert.equal(budget.inUse, 5);
    for (let i = 0; i < 100; i++) assert.ok(!budget.take(1));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!.message, /descriptor budget reached/);
    assert.deepEqual(lines[0]!.meta, { budget: 5, fdSoftLimit: 74, inUse: 4, port: 8080, proto: 'tcp', hits: 1, perMs: 60_000 });
    t = 60_000;
    assert.ok(!budget.take(1));
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.meta.hits, 101);
    budget.give(3);
    assert.equal(budget.inUse, 2);
    budget.give(10);
    assert.equal(budget.inUse, 0, 'never below zero');
  });
});
