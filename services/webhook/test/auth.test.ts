import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { TokenTable } from '@crtrail/config';
import { event, eventList, testApp } from './helpers/webhook.js';

const tokens = TokenTable.parse(
  ['# token cluster', '', 'Zq3-secret-of-prod-eu prod-eu', '   ', '  # staging too', 'another-secret staging', ''].join(
    '\n',
  ),
  'tokens',
);

describe('bearer tokens (inject, in-memory sink)', () => {
  test("401 without or with an unknown token, 200 naming the token's cluster, 403 for a path naming another; health and metrics stay open", async () => {
    const t = testApp({ auth: { tokens }, defaultCluster: 'fallback' });
    try {
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
      const cases: Array<{
        name: string;
        path: string;
        headers: Record<string, string>;
        status: number;
        reason?: RegExp;
      }> = [
        { name: 'no token', path: '/audit', headers: {}, status: 401, reason: /missing bearer token/ },
        {
          name: 'unknown token',
          path: '/audit/prod-eu',
          headers: bearer('Zq3-secret-of-prod-eX'),
          status: 401,
          reason: /unknown bearer token/,
        },
        { name: 'a prefix of a token', path: '/audit', headers: bearer('Zq3-secret'), status: 401 },
        {
          name: 'another scheme',
          path: '/audit',
          headers: { authorization: 'Basic Zq3-secret-of-prod-eu' },
          status: 401,
          reason: /not "Bearer <token>"/,
        },
        { name: 'good token, no path', path: '/audit', headers: bearer('Zq3-secret-of-prod-eu'), status: 200 },
        {
          name: 'good token, its cluster',
          path: '/audit/prod-eu',
          headers: bearer('Zq3-secret-of-prod-eu'),
          status: 200,
        },
        {
          name: 'scheme is case-insensitive',
          path: '/audit/staging',
          headers: { authorization: 'bearer another-secret' },
          status: 200,
        },
        {
          name: 'good token, another cluster',
          path: '/audit/staging',
          headers: bearer('Zq3-secret-of-prod-eu'),
          status: 403,
          reason: /bearer token's cluster is "prod-eu".*"staging"/,
        },
      ];
      for (const [i, c] of cases.entries()) {
        const res = await t.post(eventList([event(`k-${i}`)]), c.headers, c.path);
        assert.equal(res.statusCode, c.status, `${c.name}: ${res.body}`);
        if (c.status === 401) assert.match(String(res.headers['www-authenticate']), /^Bearer\b/, c.name);
        if (c.reason) assert.match(res.json().reason, c.reason, c.name);
      }
      // Only the 200s made jobs, each under the cluster of its token (never the path default 'fallback').
      assert.deepEqual(t.sink.written(), [
        { cluster: 'prod-eu', ids: ['k-4'] },
        { cluster: 'prod-eu', ids: ['k-5'] },
        { cluster: 'staging', ids: ['k-6'] },
      ]);

      for (const url of ['/healthz', '/readyz', '/metrics'])
        assert.equal((await t.app.inject({ method: 'GET', url })).statusCode, 200, url);
      assert.equal(
        await t.metric('crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_UNAUTHORIZED",service="webhook"}'),
        4,
      );
      assert.equal(
        await t.metric('crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_FORBIDDEN",service="webhook"}'),
        1,
      );
      assert.equal(await t.metric('crtrail_webhook_queue_waiting{service="webhook"}'), 3);
    } finally {
      await t.app.close();
    }
  });
});

describe('auth is decided before the body is read', () => {
  const t = testApp({ auth: { tokens } });
  after(() => t.app.close());

  test('a 401 comes back for an unparseable body', async () => {
    const garbage = await t.post('{not json', {}, '/audit');
    assert.equal(garbage.statusCode, 401, 'not the 400 a parsed body would get');
  });

  test('a 401 comes back for a 30 MiB body never sent (a real connection: the answer must not wait for the rest)', async () => {
    const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const status = await new Promise<number>((resolveStatus, reject) => {
      const req = httpRequest(
        `${url}/audit`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(30 * 1024 * 1024) },
        },
        (res) => {
          resolveStatus(res.statusCode ?? 0);
          res.resume();
          req.destroy();
        },
      );
      req.on('error', reject);
      req.write('{"kind":"EventLi');
    });
    assert.equal(status, 401);
    assert.deepEqual(t.sink.jobs, []);
  });
});
