import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningWebhook } from '@crtrail/webhook';
import { startTestWebhook, type TestWebhook } from './helpers/webhook.js';

const event = (i: number) => ({
  level: 'Metadata',
  auditID: `a-${i}`,
  stage: 'ResponseComplete',
  requestURI: '/apis/example.com/v1/namespaces/x/widgets/w',
  verb: 'patch',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'x', name: 'w' },
});
const list = (items: unknown[]) => ({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });

describe('webhook input handling (real Redis, no worker: jobs stay queued)', () => {
  let hook: RunningWebhook;
  let running: TestWebhook;
  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }, path = '/audit/c1') =>
    fetch(`${hook.url}${path}`, { method: 'POST', headers, body });

  before(async () => {
    running = await startTestWebhook('webhook-input');
    hook = running.hook;
  });
  after(async () => running.stop());

  test('a valid batch is acked with its event count, one job per batch', async () => {
    const res = await post(JSON.stringify(list([event(1), event(2), event(3)])));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { accepted: 3 });
    const jobs = await hook.queue.getWaiting();
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]!.data.cluster, 'c1');
    assert.equal(jobs[0]!.data.events.length, 3);
  });

  test('bad bodies get 4xx with a reason and enqueue nothing', async () => {
    const cases: Array<[string, Record<string, string> | undefined, number, RegExp]> = [
      ['{not json', undefined, 400, /JSON/i],
      [JSON.stringify({ kind: 'Pod', apiVersion: 'v1', items: [] }), undefined, 400, /body\.kind/],
      [JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1beta1', items: [] }), undefined, 400, /body\.apiVersion/],
      [JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1' }), undefined, 400, /body\.items/],
      [JSON.stringify(list([event(1), { ...event(2), auditID: undefined }])), undefined, 400, /items\[1\]\.auditID/],
      [JSON.stringify(list([event(1), { ...event(2), stage: 'Done' }])), undefined, 400, /items\[1\]\.stage/],
      [JSON.stringify(list([{ ...event(1), kind: 'Pod' }])), undefined, 400, /items\[0\]\.kind/],
      [JSON.stringify(list([event(1)])), { 'content-type': 'text/plain' }, 415, /content-type/i],
      ['{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"__proto__":{"x":1}}', undefined, 400, /prototype/i],
    ];
    for (const [body, headers, status, reason] of cases) {
      const res = await post(body, headers);
      const text = await res.text();
      assert.equal(res.status, status, `${body} → ${text}`);
      assert.match(JSON.parse(text).reason, reason);
    }
    const badCluster = await post(JSON.stringify(list([event(1)])), undefined, '/audit/bad%20name');
    assert.equal(badCluster.status, 400);
    assert.equal((await hook.queue.getWaiting()).length, 1, 'only the earlier valid batch is queued');
  });

  test('health and readiness', async () => {
    assert.equal((await fetch(`${hook.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${hook.url}/readyz`)).status, 200);
    const metrics = await (await fetch(`${hook.url}/metrics`)).text();
    assert.match(metrics, /crtrail_webhook_events_accepted_total\{cluster="c1",service="webhook"\} 3/);
  });
});
