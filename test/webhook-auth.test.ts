import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRedisUrl } from '@crtrail/testkit';
import type { RunningWebhook } from '@crtrail/webhook';
import { serverCertificateAuthority, webhookKubeconfig } from '../services/cli/src/ops/kubeconfig.js';
import { runCli } from './helpers/cli.js';
import { eventList } from './helpers/events.js';
import { withWebhook } from './helpers/webhook.js';
import { makeTestPki, type KeyPair, type TestPki } from './helpers/pki.js';

const event = (id: string) => ({
  level: 'Metadata',
  auditID: id,
  stage: 'ResponseComplete',
  requestURI: '/apis/example.com/v1/namespaces/x/widgets/w',
  verb: 'patch',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'x', name: 'w' },
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Call {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** TLS client side: the CA to trust, and a client certificate to present. */
  ca?: Buffer;
  client?: { cert: Buffer; key: Buffer };
}

/** One request on a fresh connection (no agent: a reused TLS session must not hide a handshake). */
function call(base: string, c: Call): Promise<Answer> {
  const url = new URL(c.path, base);
  const tls = url.protocol === 'https:' ? { ca: c.ca, cert: c.client?.cert, key: c.client?.key } : {};
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolveCall, reject) => {
    const req = send(url, { method: c.method ?? 'GET', headers: c.headers, agent: false, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolveCall({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

const postBatch = (base: string, path: string, ids: string[], extra: Omit<Call, 'path'> = {}) =>
  call(base, {
    ...extra,
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...extra.headers },
    body: eventList(ids.map(event)),
  });

/** The cluster and auditIDs of every job in the queue, oldest first. */
async function jobs(hook: RunningWebhook): Promise<Array<{ cluster: string; ids: string[] }>> {
  const waiting = await hook.queue.getWaiting();
  return waiting
    .sort((a, b) => a.timestamp - b.timestamp || Number(a.id) - Number(b.id))
    .map((j) => ({ cluster: j.data.cluster, ids: j.data.events.map((e) => e.auditID) }));
}

const metric = (text: string, line: string): number => {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
};

let pki: TestPki;
let ca: Buffer;
let prodEu: { cert: Buffer; key: Buffer };
let wrongCa: { cert: Buffer; key: Buffer };
const load = (pair: KeyPair) => ({ cert: pki.read(pair.cert), key: pki.read(pair.key) });

before(() => {
  pki = makeTestPki();
  ca = pki.read(pki.ca.cert);
  prodEu = load(pki.client('prod-eu'));
  wrongCa = load(pki.otherClient);
});
after(() => pki.remove());

describe('webhook TLS', () => {
  test('with CRTRAIL_TLS_CERT/KEY the webhook serves HTTPS (and only HTTPS)', async () => {
    await withWebhook(
      'webhook-auth',
      { CRTRAIL_TLS_CERT: pki.server.cert, CRTRAIL_TLS_KEY: pki.server.key },
      async (hook) => {
        assert.match(hook.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const ok = await postBatch(hook.url, '/audit/tls-only', ['t-1'], { ca });
        assert.equal(ok.status, 200, ok.body);
        assert.deepEqual(JSON.parse(ok.body), { accepted: 1 });
        await assert.rejects(
          call(hook.url, { path: '/healthz' }),
          'an untrusted server certificate is refused by default',
        );
        const plain = await call(hook.url.replace('https:', 'http:'), { path: '/healthz' }).catch((e: Error) => e);
        assert.ok(plain instanceof Error || plain.status === 400, 'plain HTTP is not served');
        assert.deepEqual(await jobs(hook), [{ cluster: 'tls-only', ids: ['t-1'] }]);
      },
    );
  });

  test('mTLS: no client certificate or one from another CA fails the handshake; the CN names the cluster; a path naming another cluster is a 403', async () => {
    const env = {
      CRTRAIL_TLS_CERT: pki.server.cert,
      CRTRAIL_TLS_KEY: pki.server.key,
      CRTRAIL_TLS_CLIENT_CA: pki.ca.cert,
    };
    await withWebhook('webhook-auth', env, async (hook) => {
      // TLS 1.3: the client learns of the refusal after its own handshake, as an alert or a reset.
      const refused = /CERTIFICATE_REQUIRED|UNKNOWN_CA|ECONNRESET/;
      await assert.rejects(
        postBatch(hook.url, '/audit', ['no-cert'], { ca }),
        { code: refused },
        'no client certificate',
      );
      await assert.rejects(
        postBatch(hook.url, '/audit', ['wrong-ca'], { ca, client: wrongCa }),
        { code: refused },
        'a certificate from another CA',
      );
      await assert.rejects(
        call(hook.url, { path: '/healthz', ca }),
        { code: refused },
        'every route is behind the handshake',
      );

      const plain = await postBatch(hook.url, '/audit', ['m-1'], { ca, client: prodEu });
      assert.equal(plain.status, 200, plain.body);
      const same = await postBatch(hook.url, '/audit/prod-eu', ['m-2'], { ca, client: prodEu });
      assert.equal(same.status, 200, same.body);
      const other = await postBatch(hook.url, '/audit/other', ['m-3'], { ca, client: prodEu });
      assert.equal(other.status, 403);
      assert.equal(JSON.parse(other.body).error, 'CRTRAIL_ERR_FORBIDDEN');
      assert.match(JSON.parse(other.body).reason, /client certificate CN is "prod-eu".*"other"/);

      assert.deepEqual(await jobs(hook), [
        { cluster: 'prod-eu', ids: ['m-1'] },
        { cluster: 'prod-eu', ids: ['m-2'] },
      ]);
      const metrics = (await call(hook.url, { path: '/metrics', ca, client: prodEu })).body;
      assert.ok(
        metric(
          metrics,
          'crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_TLS_HANDSHAKE",service="webhook"}',
        ) >= 2,
        metrics,
      );
      assert.equal(
        metric(metrics, 'crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_FORBIDDEN",service="webhook"}'),
        1,
      );
      assert.equal(metric(metrics, 'crtrail_webhook_queue_waiting{service="webhook"}'), 2);
    });
  });

  test('mTLS and tokens together: the certificate and the token must name the same cluster', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crtrail-tokens-'));
    try {
      const tokens = join(dir, 'tokens');
      writeFileSync(tokens, 'eu-token prod-eu\nus-token prod-us\n');
      const env = {
        CRTRAIL_TLS_CERT: pki.server.cert,
        CRTRAIL_TLS_KEY: pki.server.key,
        CRTRAIL_TLS_CLIENT_CA: pki.ca.cert,
        CRTRAIL_AUTH_TOKENS_FILE: tokens,
      };
      await withWebhook('webhook-auth', env, async (hook) => {
        const both = await postBatch(hook.url, '/audit', ['b-1'], {
          ca,
          client: prodEu,
          headers: { authorization: 'Bearer eu-token' },
        });
        assert.equal(both.status, 200, both.body);
        const mismatch = await postBatch(hook.url, '/audit', ['b-2'], {
          ca,
          client: prodEu,
          headers: { authorization: 'Bearer us-token' },
        });
        assert.equal(mismatch.status, 403);
        const noToken = await postBatch(hook.url, '/audit', ['b-3'], { ca, client: prodEu });
        assert.equal(noToken.status, 401);
        assert.deepEqual(await jobs(hook), [{ cluster: 'prod-eu', ids: ['b-1'] }]);

        // `crtrail replay` carries the same credentials an apiserver's kubeconfig does.
        const file = join(dir, 'events.ndjson');
        writeFileSync(file, `${JSON.stringify(event('r-1'))}\n`);
        const client = pki.client('prod-eu');
        const replayed = await runCli([
          'replay',
          file,
          '--url',
          hook.url,
          '--cluster',
          'prod-eu',
          '--ca',
          pki.ca.cert,
          '--cert',
          client.cert,
          '--key',
          client.key,
          '--token',
          'eu-token',
        ]);
        assert.equal(replayed.code, 0, replayed.stderr);
        assert.match(replayed.stdout, /accepted 1/);
        const refused = await runCli([
          'replay',
          file,
          '--url',
          hook.url,
          '--cluster',
          'prod-eu',
          '--ca',
          pki.ca.cert,
          '--cert',
          client.cert,
          '--key',
          client.key,
          '--token',
          'nope',
        ]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /HTTP 401/);
        assert.deepEqual(
          (await jobs(hook)).map((j) => j.ids),
          [['b-1'], ['r-1']],
        );
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The bearer-token cases (401/403/200 per token and path, auth before the body is read) and the
// tokens-file parse run with app.inject() in services/webhook/test; here what needs `crtrail up`.
describe('webhook bearer tokens (CRTRAIL_AUTH_TOKENS_FILE)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'crtrail-tokens-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a malformed tokens file fails `crtrail up` at start naming file:line', async () => {
    const bad = join(dir, 'bad-tokens');
    writeFileSync(bad, 'good-token prod-eu\nthree fields here\n');
    const up = await runCli(['up', '--webhook-only'], {
      CRTRAIL_AUTH_TOKENS_FILE: bad,
      CRTRAIL_PORT: '0',
      CRTRAIL_REDIS_URL: testRedisUrl(),
    });
    assert.equal(up.code, 1);
    assert.ok(up.stderr.includes(`${bad}:2: expected "<token> <cluster>"`), up.stderr);
  });
});

describe('the kubeconfig `crtrail up` writes for kube-apiserver', () => {
  test('reflects plain HTTP, TLS, mTLS and tokens; never holds a real token', () => {
    const plain = webhookKubeconfig('http://127.0.0.1:8080', 'prod-eu');
    assert.match(plain, /server: http:\/\/127\.0\.0\.1:8080\/audit\/prod-eu\n/);
    assert.match(plain, /user: \{\}/);
    assert.doesNotMatch(plain, /certificate-authority|client-certificate|token:/);

    // A server certificate signed by the client CA: the apiserver is told to trust that CA.
    assert.equal(serverCertificateAuthority(pki.server.cert, pki.ca.cert), pki.ca.cert);
    assert.equal(serverCertificateAuthority(pki.server.cert), undefined, 'CA unknown');
    assert.equal(serverCertificateAuthority(pki.ca.cert), pki.ca.cert, 'a self-signed certificate is its own CA');

    const tls = webhookKubeconfig('https://127.0.0.1:8443', 'prod-eu', {
      tls: { certificateAuthority: '/etc/crtrail/ca.crt' },
    });
    assert.match(
      tls,
      /server: https:\/\/127\.0\.0\.1:8443\/audit\/prod-eu\n\s+certificate-authority: \/etc\/crtrail\/ca\.crt\n/,
    );
    const unknownCa = webhookKubeconfig('https://127.0.0.1:8443', 'prod-eu', {
      tls: { certificateAuthority: undefined },
    });
    assert.match(unknownCa, /# certificate-authority:/);

    const mtls = webhookKubeconfig('https://127.0.0.1:8443', 'prod-eu', {
      tls: { certificateAuthority: '/ca.crt' },
      clientCertificate: true,
    });
    assert.match(
      mtls,
      /server: https:\/\/127\.0\.0\.1:8443\/audit\n/,
      'the certificate names the cluster, not the path',
    );
    assert.match(mtls, /client-certificate: "<.*>"\n\s+client-key: "<.*>"/);

    const token = webhookKubeconfig('http://127.0.0.1:8080', 'prod-eu', { bearerToken: true });
    assert.match(token, /server: http:\/\/127\.0\.0\.1:8080\/audit\n/);
    assert.match(token, /\n\s+token: "<token for this cluster from CRTRAIL_AUTH_TOKENS_FILE>"\n/);
  });
});
