import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { runCli } from './helpers/cli.js';
import {
  firehoseBody,
  firehoseHeaders,
  fixtureText,
  gkeEntries,
  nativeWrites,
  PUSHER,
  pushEnvelope,
  pushSigner,
} from '../services/webhook/test/helpers/intake.js';
// Its module also declares the webhook's `app.backpressure` decoration (a Fastify augmentation).
import type { Backpressure } from '@crtrail/webhook';

/*
 * The same five writes (packages/intake/test/fixtures) reach crtrail four ways, each through a
 * real webhook and worker on Redis and Elasticsearch under its own prefix: natively on /audit, as
 * an EKS Firehose delivery, as GKE Pub/Sub pushes (entries with bodies), and as an AKS storage
 * export replayed by `crtrail replay`. The records must be the same.
 */

const CLUSTER = 'shop';
const AUDIENCE = 'https://crtrail.test/intake/pubsub/{cluster}';
const audience = (cluster: string) => AUDIENCE.replace('{cluster}', cluster);
const FIREHOSE_KEY = 'firehose-key-of-shop-0123456789';

const signer = await pushSigner();
const post = (url: string, body: string | Buffer, headers: Record<string, string>) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const bearer = async (aud = audience(CLUSTER), over = {}) => ({
  authorization: `Bearer ${await signer.token(aud, over)}`,
});

/** What a record says, without what differs by design between two pipelines (ids of documents, times of receipt). */
async function recordsOf(p: Pipeline) {
  const docs = await p.search({ term: { 'orchestrator.cluster.name': CLUSTER } });
  return docs
    .map(({ _source: s }) => ({
      auditID: s.event.id as string,
      verb: s.event.action as string,
      ops: s.crtrail.change.ops,
      kind: s.crtrail.change.kind,
      baseline: s.crtrail.change.baseline,
      gap: s.crtrail.change.gap,
      critical: s.crtrail.change.critical,
      actor: s.crtrail.actor,
      object: s.crtrail.object,
    }))
    .sort((a, b) => a.auditID.localeCompare(b.auditID));
}

describe("EKS, AKS and GKE intakes make the webhook's records (real Redis + Elasticsearch)", () => {
  let dir: string;
  let jwks: Server;
  let env: Record<string, string>;
  const pipelines: Pipeline[] = [];
  let native: Pipeline, firehose: Pipeline, pubsub: Pipeline, aks: Pipeline, gate: Pipeline;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crtrail-intake-'));
    writeFileSync(join(dir, 'firehose-keys'), `${FIREHOSE_KEY} ${CLUSTER}\n`);
    writeFileSync(join(dir, 'pubsub-tokens'), `push-token-of-shop ${CLUSTER}\n`);
    // Google's JWKS stands in: the same verification, keys served locally.
    jwks = createServer((_req, res) =>
      res.setHeader('content-type', 'application/json').end(JSON.stringify(signer.jwks)),
    );
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const address = jwks.address() as { port: number };
    env = {
      CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE: join(dir, 'firehose-keys'),
      CRTRAIL_PUBSUB_TOKENS_FILE: join(dir, 'pubsub-tokens'),
      CRTRAIL_PUBSUB_AUDIENCE: AUDIENCE,
      CRTRAIL_PUBSUB_SERVICE_ACCOUNT: PUSHER,
      CRTRAIL_PUBSUB_JWKS_URL: `http://127.0.0.1:${address.port}/jwks`,
    };
    for (const name of ['native', 'firehose', 'pubsub', 'aks'])
      pipelines.push(await startPipeline(uniquePrefix(`intake-${name}`), { env }));
    [native, firehose, pubsub, aks] = pipelines as [Pipeline, Pipeline, Pipeline, Pipeline];
    // No worker, and a queue that counts as full past two waiting batches: what is in Redis stays there.
    gate = await startPipeline(uniquePrefix('intake-gate'), {
      workers: 0,
      env: { ...env, CRTRAIL_QUEUE_MAX_WAITING: '2' },
    });
    pipelines.push(gate);
  });
  after(async () => {
    await Promise.all(pipelines.map((p) => p.close()));
    jwks?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('native /audit, a Firehose delivery, Pub/Sub pushes and an AKS replay: the same records', async () => {
    const list = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: nativeWrites() };
    const a = await post(`${native.url}/audit/${CLUSTER}`, JSON.stringify(list), {});
    assert.equal(a.status, 200, await a.text());

    const b = await post(`${firehose.url}/intake/firehose/${CLUSTER}`, gzipSync(firehoseBody()), {
      ...firehoseHeaders(FIREHOSE_KEY),
      'content-encoding': 'gzip',
    });
    assert.equal(b.status, 200, await b.clone().text());
    assert.equal(((await b.json()) as { requestId: string }).requestId, 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f');

    // One push per entry, in order, as a sink publishes them (both credentials configured: both sent).
    for (const [i, entry] of gkeEntries().entries()) {
      const c = await post(
        `${pubsub.url}/intake/pubsub/${CLUSTER}?token=push-token-of-shop`,
        JSON.stringify(pushEnvelope(entry, `m-${i}`)),
        await bearer(),
      );
      assert.equal(c.status, 200, await c.text());
    }

    const blob = join(dir, 'PT1H.json.gz');
    writeFileSync(blob, gzipSync(fixtureText('aks-storage-PT1H.json')));
    const d = await runCli(['replay', blob, '--cluster', CLUSTER, '--url', aks.url, '--wait', '120'], {
      CRTRAIL_ES_URL: aks.env.CRTRAIL_ES_URL,
      CRTRAIL_INDEX_PREFIX: aks.prefix,
    });
    assert.equal(d.code, 0, d.stderr);
    assert.match(
      d.stdout,
      /sent 5, accepted 5 \(5 custom-resource writes queued for records\).*skipped non-audit records 1/,
    );

    await Promise.all([native, firehose, pubsub, aks].map((p) => p.idle()));
    const expected = await recordsOf(native);
    assert.equal(expected.length, 5, 'one record per write, the denied one included');
    assert.ok(expected.some((r) => r.ops.length > 0));
    assert.deepEqual(await recordsOf(firehose), expected, 'EKS via Firehose');
    assert.deepEqual(await recordsOf(aks), expected, 'AKS replayed');
    // GKE logs no query string: the create's ?fieldManager=kubectl-create is lost, and the manager
    // falls back to the user agent's (as the apiserver's own would); everything else is the same.
    const gke = await recordsOf(pubsub);
    const tool = (rs: typeof expected) => rs.map((r) => [r.actor.tool, r.actor.manager]);
    assert.deepEqual(tool(gke)[0], ['kubectl', 'kubectl']);
    assert.deepEqual(tool(expected)[0], ['kubectl-create', 'kubectl-create']);
    const unmanaged = (rs: typeof expected) =>
      rs.map((r) => ({ ...r, actor: { ...r.actor, tool: undefined, manager: undefined } }));
    assert.deepEqual(unmanaged(gke), unmanaged(expected), 'GKE via Pub/Sub');
    assert.deepEqual(tool(gke).slice(1), tool(expected).slice(1));
  });

  test('auth failures are 401/403 and bad bodies 400 with a reason, on the real server', async () => {
    const firehoseUrl = `${firehose.url}/intake/firehose/${CLUSTER}`;
    const refused = async (res: Response) => ({
      status: res.status,
      body: (await res.json()) as Record<string, string>,
    });
    const noKey = await refused(await post(firehoseUrl, firehoseBody(), firehoseHeaders(undefined)));
    assert.equal(noKey.status, 401);
    assert.match(noKey.body.errorMessage!, /X-Amz-Firehose-Access-Key is missing/);
    assert.equal((await refused(await post(firehoseUrl, firehoseBody(), firehoseHeaders('not-the-key')))).status, 403);
    assert.equal(
      (await refused(await post(`${firehose.url}/intake/firehose/lab`, firehoseBody(), firehoseHeaders(FIREHOSE_KEY))))
        .status,
      403,
    );
    const badRecord = await refused(
      await post(
        firehoseUrl,
        JSON.stringify({ requestId: 'r', timestamp: 1, records: [{ data: '!!' }] }),
        firehoseHeaders(FIREHOSE_KEY),
      ),
    );
    assert.equal(badRecord.status, 400);
    assert.match(badRecord.body.errorMessage!, /records\[0\]\.data: not valid base64/);

    const pushUrl = `${pubsub.url}/intake/pubsub/${CLUSTER}`;
    const body = JSON.stringify(pushEnvelope(gkeEntries()[0]));
    assert.equal((await post(`${pushUrl}?token=push-token-of-shop`, body, {})).status, 401, 'no OIDC token');
    assert.equal((await post(pushUrl, body, await bearer())).status, 401, 'no ?token=');
    assert.equal(
      (await post(`${pushUrl}?token=push-token-of-shop`, body, await bearer(audience('lab')))).status,
      403,
      "another cluster's audience",
    );
    assert.equal((await post(`${pushUrl}?token=wrong`, body, await bearer())).status, 403);
    const badPush = await refused(
      await post(
        `${pushUrl}?token=push-token-of-shop`,
        JSON.stringify({ message: { data: Buffer.from('not json').toString('base64') } }),
        await bearer(),
      ),
    );
    assert.equal(badPush.status, 400);
    assert.match(badPush.body.error!, /message\.data: not valid JSON/);
    assert.equal((await post(`${native.url}/intake/nothing/${CLUSTER}`, body, {})).status, 404);
  });

  test('a Firehose 200 means the jobs are in Redis; over CRTRAIL_QUEUE_MAX_WAITING both intakes answer 429 with Retry-After', async () => {
    const ok = await post(`${gate.url}/intake/firehose/${CLUSTER}`, firehoseBody(), firehoseHeaders(FIREHOSE_KEY));
    assert.equal(ok.status, 200);
    // No worker runs here: what the 200 promised must be waiting in the queue right now.
    const waiting = await gate.webhook.queue.getJobs(['waiting']);
    assert.deepEqual(
      waiting.map((j) => ({ cluster: j.data.cluster, ids: j.data.events.map((e: { auditID: string }) => e.auditID) })),
      [{ cluster: CLUSTER, ids: nativeWrites().map((e) => e.auditID) }],
    );
    const list = JSON.stringify({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: nativeWrites().slice(0, 1),
    });
    for (let i = 0; i < 2; i++) assert.equal((await post(`${gate.url}/audit/${CLUSTER}`, list, {})).status, 200);
    const backpressure: Backpressure = gate.webhook.app.backpressure;
    await backpressure.refresh();
    const full = await post(`${gate.url}/intake/firehose/${CLUSTER}`, firehoseBody(), firehoseHeaders(FIREHOSE_KEY));
    assert.equal(full.status, 429);
    assert.equal(full.headers.get('retry-after'), '5');
    assert.match(((await full.json()) as { errorMessage: string }).errorMessage, /CRTRAIL_ERR_QUEUE_FULL/);
    const push = await post(
      `${gate.url}/intake/pubsub/${CLUSTER}?token=push-token-of-shop`,
      JSON.stringify(pushEnvelope(gkeEntries()[0])),
      await bearer(),
    );
    assert.equal(push.status, 429);
    assert.equal(push.headers.get('retry-after'), '5');
    assert.equal(await gate.webhook.queue.getWaitingCount(), 3, 'nothing refused was written');
  });
});
