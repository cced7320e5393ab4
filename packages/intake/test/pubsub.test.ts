import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import type { AuditEvent } from '@crtrail/audit';
import { decodePubSubPush, pubsubAuthCheck, pubsubHandler, type PubSubRequest } from '../src/index.js';
import { ndjson, pushEnvelope } from './helpers.js';

const AUDIENCE = 'https://crtrail.example.com/intake/pubsub/shop';
const PUSHER = 'crtrail-push@shop-prod.iam.gserviceaccount.com';
const entries = () => ndjson('gke-entries-request-response.ndjson');

// A key pair made here stands in for Google's: the JWKS source is configurable, so the same
// verification code runs on it offline.
const { publicKey, privateKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
const keys = createLocalJWKSet({ keys: [jwk] });
const { privateKey: strangerKey } = await generateKeyPair('RS256');

/** A token shaped as Google's documented push JWT: RS256, kid, aud, azp, email, email_verified, iat/exp, iss. */
async function pushToken(over: JWTPayload = {}, key = privateKey, kid = 'test-key-1'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    aud: AUDIENCE,
    azp: '113774264463038321964',
    email: PUSHER,
    email_verified: true,
    sub: '113774264463038321964',
    iss: 'https://accounts.google.com',
    iat: now,
    exp: now + 3600,
    ...over,
  })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .sign(key);
}
const oidc = { audience: AUDIENCE, serviceAccountEmail: PUSHER, keys };
const request = (over: Partial<PubSubRequest> = {}): PubSubRequest => ({
  headers: {},
  query: {},
  body: pushEnvelope(entries()[0]),
  ...over,
});

test('a push envelope carries one LogEntry, converted; ids kept for the logs', () => {
  const out = decodePubSubPush(pushEnvelope(entries()[1]));
  assert.equal(out.events.length, 1);
  assert.equal(out.events[0]!.auditID, '1c9e7b52-5d41-4a0e-9b0a-7f3c2e1d0a02');
  assert.equal(out.messageId, '2070443601311540');
  assert.equal(out.subscription, 'projects/shop-prod/subscriptions/crtrail-audit');
  assert.deepEqual(decodePubSubPush(JSON.stringify(pushEnvelope(entries()[1]))).events, out.events);
});

test('OIDC: a token signed by the configured keys, for the audience and the push service account, passes; 200 after the sink', async () => {
  const handler = pubsubHandler({ oidc });
  const got: AuditEvent[][] = [];
  const reply = await handler(
    request({ headers: { authorization: `Bearer ${await pushToken()}` } }),
    async (events) => {
      got.push(events);
    },
  );
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.body, { accepted: 1, skipped: 0 });
  assert.equal(got.length, 1);
  // Google's other issuer spelling is accepted too.
  assert.equal(
    (
      await handler(
        request({ headers: { authorization: `Bearer ${await pushToken({ iss: 'accounts.google.com' })}` } }),
        async () => {},
      )
    ).status,
    200,
  );
});

test('OIDC refusals: no token 401, bad signature / expired / unknown key 401, wrong audience or issuer 403, other email or unverified 403', async () => {
  const check = pubsubAuthCheck({ oidc });
  const statusFor = async (authorization?: string): Promise<number> => {
    try {
      await check({ headers: authorization ? { authorization } : {}, query: {} });
      return 200;
    } catch (err) {
      return (err as { statusCode: number }).statusCode;
    }
  };
  const now = Math.floor(Date.now() / 1000);
  assert.equal(await statusFor(), 401);
  assert.equal(await statusFor('Basic abc'), 401);
  assert.equal(await statusFor(`Bearer ${await pushToken({}, strangerKey)}`), 401);
  assert.equal(await statusFor(`Bearer ${await pushToken({}, privateKey, 'other-kid')}`), 401);
  assert.equal(await statusFor(`Bearer ${await pushToken({ iat: now - 7200, exp: now - 3600 })}`), 401);
  assert.equal(await statusFor(`Bearer ${await pushToken({ aud: 'https://elsewhere.example.com' })}`), 403);
  assert.equal(await statusFor(`Bearer ${await pushToken({ iss: 'https://evil.example.com' })}`), 403);
  assert.equal(
    await statusFor(`Bearer ${await pushToken({ email: 'someone@shop-prod.iam.gserviceaccount.com' })}`),
    403,
  );
  assert.equal(await statusFor(`Bearer ${await pushToken({ email_verified: false })}`), 403);
  assert.equal(await statusFor(`Bearer ${await pushToken()}`), 200);
});

test('push token: ?token= checked against the configured tokens; with OIDC too, both must pass; neither configured refuses to build', async () => {
  const tokenOnly = pubsubAuthCheck({ tokens: ['s3cret-a', 's3cret-b'] });
  await tokenOnly({ headers: {}, query: { token: 's3cret-b' } });
  await assert.rejects(tokenOnly({ headers: {}, query: {} }), { statusCode: 401 });
  await assert.rejects(tokenOnly({ headers: {}, query: { token: 's3cret-c' } }), { statusCode: 403 });
  await assert.rejects(tokenOnly({ headers: {}, query: { token: ['s3cret-a', 'x'] } }), { statusCode: 401 });
  const both = pubsubAuthCheck({ tokens: ['s3cret-a'], oidc });
  await assert.rejects(both({ headers: {}, query: { token: 's3cret-a' } }), { statusCode: 401 });
  await assert.rejects(both({ headers: { authorization: `Bearer ${await pushToken()}` }, query: {} }), {
    statusCode: 401,
  });
  await both({ headers: { authorization: `Bearer ${await pushToken()}` }, query: { token: 's3cret-a' } });
  assert.throws(() => pubsubAuthCheck({}), /configure push tokens, OIDC verification, or both/);
  assert.throws(() => pubsubAuthCheck({ tokens: [] }), /configure push tokens/);
});

test('bad input is a 400 naming the part; a skipped entry is acked (200) so Pub/Sub does not redeliver it forever', async () => {
  const handler = pubsubHandler({ tokens: ['t'] });
  const q = { token: 't' };
  const never = () => Promise.reject(new Error('must not be called'));
  const cases: Array<[unknown, RegExp]> = [
    [{ hello: 1 }, /expected a Pub\/Sub push envelope/],
    [{ message: { data: 'not*base64' } }, /message\.data: not valid base64/],
    [{ message: { data: Buffer.from('nope').toString('base64') } }, /message\.data: not valid JSON/],
    [pushEnvelope({ ...(entries()[0] as object), insertId: '' }), /insertId: required/],
  ];
  for (const [body, reason] of cases) {
    const reply = await handler(request({ query: q, body }), never);
    assert.equal(reply.status, 400, String(reason));
    assert.match(reply.body.error ?? '', reason);
  }
  const other = ndjson('gke-entries-metadata.ndjson')[0];
  const skipped = await handler(request({ query: q, body: pushEnvelope(other) }), never);
  assert.equal(skipped.status, 200);
  assert.deepEqual(skipped.body, { accepted: 0, skipped: 1 });
});

test('backpressure from the sink is the push answer (Pub/Sub nacks and redelivers)', async () => {
  const handler = pubsubHandler({ tokens: ['t'] });
  const reply = await handler(request({ query: { token: 't' } }), () =>
    Promise.reject(
      Object.assign(new Error('queue unavailable: ECONNREFUSED'), { statusCode: 503, retryAfterSeconds: 10 }),
    ),
  );
  assert.equal(reply.status, 503);
  assert.equal(reply.headers['retry-after'], '10');
});
