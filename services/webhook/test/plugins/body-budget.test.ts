import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { BodyBudget } from '../../src/plugins/body-budget.js';
import { event, eventList, testApp } from '../helpers/webhook.js';

describe('body budget', () => {
  test('bodies pass side by side while they fit, then one after the other, first come first served', async () => {
    const budget = new BodyBudget(100);
    const order: string[] = [];
    const take = (name: string, bytes: number) => budget.acquire(bytes).then(() => void order.push(name));
    await take('a', 40);
    await take('b', 40);
    const c = take('c', 40);
    const d = take('d', 10);
    await tick();
    assert.deepEqual(order, ['a', 'b'], 'c does not fit; d, behind it, waits its turn');
    assert.equal(budget.waiting, 2);
    budget.release(40);
    await Promise.all([c, d]);
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  });

  test('a body bigger than the budget is admitted alone', async () => {
    const budget = new BodyBudget(100);
    await budget.acquire(30);
    let big = false;
    const waiting = budget.acquire(500).then(() => (big = true));
    await tick();
    assert.equal(big, false, 'waits for the others to finish');
    budget.release(30);
    await waiting;
    assert.equal(big, true);
    let next = false;
    const after = budget.acquire(1).then(() => (next = true));
    await tick();
    assert.equal(next, false, 'nothing joins it');
    budget.release(500);
    await after;
  });

  test('the webhook parses a second big body only once the first is answered', async () => {
    // Two bodies of ~0.6 of the 1 MiB limit: both fit the limit, not together.
    const t = testApp({ bodyLimit: 1024 * 1024 });
    try {
      const body = (from: number) => eventList(Array.from({ length: 2400 }, (_, i) => event(from + i)));
      assert.ok(body(0).length > 0.5 * 1024 * 1024 && body(0).length < 1024 * 1024, `body of ${body(0).length} bytes`);
      let open!: () => void;
      t.sink.gate = new Promise((r) => (open = r));
      const first = t.post(body(0));
      const second = t.post(body(3000));
      for (let i = 0; i < 20; i++) await tick();
      assert.equal(t.sink.addsStarted, 1, 'the second body waits while the first is being stored');
      open();
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.statusCode, 200);
      assert.equal(b.statusCode, 200);
      assert.equal(t.sink.addsStarted, 2);
      // Small bodies are not held back by each other.
      t.sink.gate = new Promise((r) => (open = r));
      const small = [t.post(eventList([event(9000)])), t.post(eventList([event(9001)]))];
      for (let i = 0; i < 20; i++) await tick();
      assert.equal(t.sink.addsStarted, 4, 'both small bodies are being stored at once');
      open();
      for (const r of await Promise.all(small)) assert.equal(r.statusCode, 200);
    } finally {
      await t.app.close();
    }
  });
});
