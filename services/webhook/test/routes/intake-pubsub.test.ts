import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSecrets } from '../../src/intake-auth.js';
import { testApp, type TestApp } from '../helpers/webhook.js';
import { gkeEntries, PUSHER, pushEnvelope, pushSigner } from '../helpers/intake.js';

const AUDIENCE = 'https://crtrail.example.com/intake/pubsub/{cluster}';
const audience = (cluster: string) => `https://crtrail.example.com/intake/pubsub/${cluster}`;
const signer = await pushSigner();
const push = (t: TestApp, entry: unknown, headers: Record<string, string>, path = '/intake/pubsub/shop') =>
  t.post(JSON.stringify(pushEnvelope(entry)), headers, path);
const bearer = async (aud = audience('shop'), over = {}) => ({
  authorization: `Bearer ${await signer.token(aud, over)}`,
});

describe('POST /intake/pubsub/<cluster> with OIDC (inject, in-memory sink)', () => {
  let t: TestApp;
  before(() => {
    t = testApp({
      auth: { intake: { pubsub: { oidc: { audience: AUDIENCE, serviceAccountEmail: PUSHER, keys: signer.keys } } } },
    });
  });
  after(() => t.app.close());

  test('a signed push of one GKE entry is written as /audit writes it, then acked 200', async () => {
    const [entry] = gkeEntries();
    const res = await push(t, entry, await bearer());
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { accepted: 1, skipped: 0 });
    assert.deepEqual(t.sink.written(), [{ cluster: 'shop', ids: ['1c9e7b52-5d41-4a0e-9b0a-7f3c2e1d0a01'] }]);
    assert.equal(t.sink.jobs[0]!.events[0]!.annotations?.['crtrail.dev/source'], 'gke');
  });

  test("auth: no token 401 with a challenge, another cluster's audience 403, another email 403, unverified 403, a bad signature 401", async () => {
    const before = t.sink.jobs.length;
    const [entry] = gkeEntries();
    const other = await pushSigner();
    const cases: Array<[Record<string, string>, number, RegExp]> = [
      [{}, 401, /Authorization: Bearer/],
      [await bearer(audience('lab')), 403, /aud is not accepted/],
      [
        await bearer(audience('shop'), { email: 'someone@shop-prod.iam.gserviceaccount.com' }),
        403,
        /not the push service account/,
      ],
      [await bearer(audience('shop'), { email_verified: false }), 403, /not verified/],
      [{ authorization: `Bearer ${await other.token(audience('shop'))}` }, 401, /OIDC token rejected/],
    ];
    for (const [headers, status, reason] of cases) {
      const res = await push(t, entry, headers);
      assert.equal(res.statusCode, status, res.body);
      assert.match(res.json().reason, reason);
    }
    assert.equal((await push(t, entry, {})).headers['www-authenticate'], 'Bearer realm="crtrail"');
    assert.equal(t.sink.jobs.length, before);
  });

  test('bad input is a 400 with a reason; an entry that is no Kubernetes audit entry is acked and skipped', async () => {
    const before = t.sink.jobs.length;
    const headers = await bearer();
    const noMessage = await t.post(JSON.stringify({ subscription: 'x' }), headers, '/intake/pubsub/shop');
    assert.equal(noMessage.statusCode, 400);
    assert.match(noMessage.json().error, /push envelope/);
    const badData = await t.post(
      JSON.stringify({ message: { data: '%%%', messageId: '1' } }),
      headers,
      '/intake/pubsub/shop',
    );
    assert.equal(badData.statusCode, 400);
    assert.match(badData.json().error, /message\.data: not valid base64/);
    const notK8s = await push(
      t,
      {
        insertId: 'x',
        protoPayload: {
          '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
          serviceName: 'container.googleapis.com',
        },
      },
      headers,
    );
    assert.equal(notK8s.statusCode, 200);
    assert.deepEqual(notK8s.json(), { accepted: 0, skipped: 1 });
    const badCluster = await push(t, gkeEntries()[0], headers, '/intake/pubsub/bad%20name');
    assert.equal(badCluster.statusCode, 400);
    assert.equal(badCluster.json().error, 'CRTRAIL_ERR_INVALID_CLUSTER');
    assert.equal(t.sink.jobs.length, before);
    assert.equal(
      await t.metric(
        'crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_INTAKE_INVALID_BASE64",service="webhook"}',
      ),
      1,
    );
  });

  test('a queue that fails is a 503 with Retry-After: Pub/Sub redelivers', async () => {
    t.sink.failNextAdd = new Error('Connection is closed.');
    const res = await push(t, gkeEntries()[1], await bearer());
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '10');
    assert.match(res.json().error, /queue unavailable/);
  });
});

describe('POST /intake/pubsub/<cluster> with push tokens, and with both', () => {
  const tokens = () => ClusterSecrets.parse('tok-shop shop\ntok-lab lab\n', 'tokens.txt');

  test("?token= of the path's cluster passes; missing 401, wrong or another cluster's 403, a cluster without tokens 403", async () => {
    const t = testApp({ auth: { intake: { pubsub: { tokens: tokens() } } } });
    try {
      const [entry] = gkeEntries();
      assert.equal((await push(t, entry, {}, '/intake/pubsub/shop?token=tok-shop')).statusCode, 200);
      const cases: Array<[string, number, RegExp]> = [
        ['/intake/pubsub/shop', 401, /no \?token=/],
        ['/intake/pubsub/shop?token=nope', 403, /does not match/],
        ['/intake/pubsub/shop?token=tok-lab', 403, /does not match/],
        ['/intake/pubsub/prod?token=tok-shop', 403, /no push token is configured for cluster "prod"/],
      ];
      for (const [path, status, reason] of cases) {
        const res = await push(t, entry, {}, path);
        assert.equal(res.statusCode, status, `${path}: ${res.body}`);
        assert.match(res.json().reason, reason);
      }
      assert.equal(t.sink.jobs.length, 1);
    } finally {
      await t.app.close();
    }
  });

  test('tokens and OIDC both configured: both are required', async () => {
    const t = testApp({
      auth: {
        intake: {
          pubsub: { tokens: tokens(), oidc: { audience: AUDIENCE, serviceAccountEmail: PUSHER, keys: signer.keys } },
        },
      },
    });
    try {
      const [entry] = gkeEntries();
      assert.equal((await push(t, entry, await bearer(), '/intake/pubsub/shop?token=tok-shop')).statusCode, 200);
      assert.equal((await push(t, entry, {}, '/intake/pubsub/shop?token=tok-shop')).statusCode, 401);
      assert.equal((await push(t, entry, await bearer(), '/intake/pubsub/shop')).statusCode, 401);
    } finally {
      await t.app.close();
    }
  });
});
