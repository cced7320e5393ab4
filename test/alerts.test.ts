import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { eventually, testEsUrl, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { runCli } from './helpers/cli.js';
import { createRedis } from '@crtrail/queue';
import { loadConfig } from '@crtrail/config';
import { alertQueueName, createAlerting } from '@crtrail/worker';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { demoStory } from '../services/cli/src/demo-story.js';
import type { Op } from '@crtrail/diff';
import type { LooseJson } from './helpers/loose.js';

interface Received {
  path: string;
  status: number;
  body: LooseJson;
}

/** A local HTTP receiver for every sink: records each request and answers per path. */
async function receiver(): Promise<{ server: Server; base: string; got: Received[]; fixDown(): void }> {
  const got: Received[] = [];
  let downFixed = false;
  let flaky = 0;
  let flakyGroup = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      // `/flaky` fails its first request, then works; `/down` works only once fixed.
      // `/flaky-group` fails the first grouped message, then works.
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const status =
        path === '/down' && !downFixed
          ? 500
          : path === '/flaky' && flaky++ === 0
            ? 500
            : path === '/flaky-group' && body.count > 1 && flakyGroup++ === 0
              ? 500
              : 200;
      got.push({ path, status, body });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    got,
    fixDown: () => {
      downFixed = true;
    },
  };
}

async function post(url: string, cluster: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${url}/audit/${cluster}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: eventList(events),
  });
  assert.equal(res.status, 200, await res.text());
}

/** Record ids an endpoint was delivered (2xx), one entry per delivery. */
function delivered(got: Received[], path: string): string[] {
  return got
    .filter((r) => r.path === path && r.status === 200)
    .flatMap((r) =>
      path === '/webhook' || path === '/flaky' || path === '/down'
        ? [r.body.alert.record_id]
        : path === '/slack'
          ? [/record `([^`]+)`/.exec(JSON.stringify(r.body))![1]!]
          : r.body.map((a: LooseJson) => a.labels.record_id),
    );
}

describe('alerts through the real pipeline: every sink type, once per record, retried, dead-lettered', () => {
  let p: Pipeline;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let dir: string;
  let configFile: string;
  const story = demoStory();
  const KIBANA = 'https://kibana.example.com:5601';

  before(async () => {
    rx = await receiver();
    dir = mkdtempSync(join(tmpdir(), 'crtrail-alerts-'));
    configFile = join(dir, 'crtrail.yaml');
    writeFileSync(
      configFile,
      [
        'alerts:',
        '  group_window_seconds: 0',
        '  attempts: 3',
        '  sinks:',
        `    - { type: webhook, url: "${rx.base}/webhook" }`,
        `    - { type: slack, url: "${rx.base}/slack" }`,
        `    - { type: alertmanager, url: "${rx.base}/am" }`,
        `    - { type: webhook, name: flaky, url: "${rx.base}/flaky" }`,
        `    - { type: webhook, name: down, url: "${rx.base}/down" }`,
      ].join('\n'),
    );
    p = await startPipeline(uniquePrefix('alerts'), {
      env: { CRTRAIL_CONFIG: configFile, CRTRAIL_KIBANA_URL: KIBANA },
    });
  });
  after(async () => {
    await p?.close();
    rx?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the demo story: a critical drift edit, a denied attempt and a delete reach each sink once, with actor, path, old and new', async () => {
    await post(p.url, 'demo', story);
    await p.idle();
    const records = await p.search({ term: { 'orchestrator.cluster.name': 'demo' } });
    assert.equal(records.length, story.length);
    const byActorVerb = (name: string, verb: string) =>
      records.find((r) => r._source.crtrail.actor.name === name && r._source.event.action === verb)!;
    const edit = byActorVerb('alice@example.com', 'patch');
    const denied = byActorVerb('mallory@example.com', 'patch');
    const deleted = byActorVerb('bob@example.com', 'delete');
    const status = records.find((r) => r._source.kubernetes.audit.objectRef.subresource === 'status')!;
    const must = [edit._id, denied._id, deleted._id];

    const alerts = await eventually(
      async () => {
        const ids = delivered(rx.got, '/webhook');
        return must.every((id) => ids.includes(id))
          ? rx.got.filter((r) => r.path === '/webhook').map((r) => r.body)
          : undefined;
      },
      60_000,
      'the webhook alerts',
    );
    // Everything is delivered once the queue is idle: compare every sink's deliveries then.
    const q = new Queue(alertQueueName(p.prefix), { connection: p.redis });
    try {
      await eventually(
        async () => {
          const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          return Object.values(c).every((n) => n === 0) && (await q.getFailedCount()) > 0 ? true : undefined;
        },
        60_000,
        'the alert queue to drain',
      );
      const webhookIds = delivered(rx.got, '/webhook');
      assert.equal(new Set(webhookIds).size, webhookIds.length, 'no record alerted twice');
      assert.ok(!webhookIds.includes(status._id), 'a status write by cert-manager is not alerted');
      for (const path of ['/slack', '/am/api/v2/alerts', '/flaky']) {
        assert.deepEqual(
          delivered(rx.got, path).sort(),
          [...webhookIds].sort(),
          `${path}: the same records, once each`,
        );
      }

      // The hand edit: who, how, from where; the critical path with its old and new value; the rules; links.
      const a = alerts.find((b) => b.alert.record_id === edit._id)!;
      assert.equal(a.kind, 'crtrail.alert');
      assert.equal(a.count, 1);
      assert.equal(a.alert.cluster, 'demo');
      assert.deepEqual(a.alert.actor.name, 'alice@example.com');
      assert.equal(a.alert.actor.kind, 'human');
      assert.equal(a.alert.actor.sourceIP, '192.0.2.44');
      assert.ok(a.alert.actor.tool, 'the tool is named');
      assert.deepEqual(a.alert.object, {
        ...a.alert.object,
        group: 'cert-manager.io',
        kind: 'Certificate',
        namespace: 'payments',
        name: 'payments-tls',
      });
      assert.equal(a.alert.verb, 'patch');
      assert.equal(a.alert.outcome, 'success');
      assert.deepEqual(a.alert.rules.map((r: { name: string }) => r.name).sort(), ['critical-change', 'gitops-drift']);
      const op = a.alert.change.ops.find((o: Op) => o.path === '/spec/dnsNames/1');
      assert.ok(op, JSON.stringify(a.alert.change));
      assert.equal(op.new, 'pay-admin.example.com');
      assert.ok(
        a.alert.change.ops.every((o: Op) => a.alert.change.critical_paths.includes(o.path)),
        'only critical paths',
      );
      assert.ok(a.alert.links.record.startsWith(`${KIBANA}/app/discover#/`), a.alert.links.record);
      assert.match(decodeURIComponent(a.alert.links.record), new RegExp(`_id:"${edit._id}"`));
      // The objects `crtrail kibana setup` imports: the data view, and the object-history search on crtrail.object.key.
      assert.match(decodeURIComponent(a.alert.links.record), new RegExp(`index:'${p.prefix}-changes'`));
      const timeline = decodeURIComponent(a.alert.links.timeline);
      assert.ok(timeline.startsWith(`${KIBANA}/app/discover#/view/${p.prefix}-search-object-history?`), timeline);
      assert.match(timeline, /crtrail\.object\.key:"demo\/cert-manager\.io\/certificates\/payments\/payments-tls"/);

      const d = alerts.find((b) => b.alert.record_id === denied._id)!;
      assert.deepEqual(
        d.alert.rules.map((r: { name: string }) => r.name),
        ['failed-critical-attempt'],
      );
      assert.equal(d.alert.outcome, 'failure');
      assert.equal(d.alert.status_code, 403);
      const del = alerts.find((b) => b.alert.record_id === deleted._id)!;
      assert.deepEqual(
        del.alert.rules.map((r: { name: string }) => r.name),
        ['critical-delete'],
      );

      // Slack: blocks with the summary and the changed path; Alertmanager: labels, annotations, startsAt, generatorURL.
      const slack = rx.got.find((r) => r.path === '/slack' && JSON.stringify(r.body).includes(edit._id))!.body;
      assert.ok(Array.isArray(slack.blocks) && slack.blocks[0].type === 'header', JSON.stringify(slack));
      assert.match(JSON.stringify(slack.blocks), /\/spec\/dnsNames\/1/);
      assert.match(slack.text, /alice@example\.com/);
      const am = rx.got.find((r) => r.path === '/am/api/v2/alerts' && r.body[0].labels.record_id === edit._id)!.body[0];
      assert.equal(am.labels.alertname, 'CrtrailChange');
      assert.equal(am.labels.cluster, 'demo');
      assert.equal(am.labels.name, 'payments-tls');
      assert.equal(am.startsAt, edit._source['@timestamp']);
      assert.ok(am.generatorURL.startsWith(KIBANA));
      assert.match(am.annotations.description, /\/spec\/dnsNames\/1: ∅ → "pay-admin\.example\.com"/);

      // The flaky receiver got the first alert once more (the failed try), and every alert once with a 200.
      assert.equal(rx.got.filter((r) => r.path === '/flaky' && r.status === 500).length, 1);
      // The receiver that always fails: each alert tried `attempts` times, then in the failed set (the dead letters).
      const failed = await q.getFailed();
      assert.deepEqual(failed.map((j) => j.data.alert.record_id).sort(), [...webhookIds].sort());
      assert.ok(failed.every((j) => j.data.sink === 'down' && j.attemptsMade === 3));
      assert.equal(rx.got.filter((r) => r.path === '/down').length, 3 * webhookIds.length);
      const registry = p.workers[0]!.metrics.registry;
      const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
        const values = (await registry.getSingleMetric(name)!.get()).values;
        return values
          .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
          .reduce((n, v) => n + v.value, 0);
      };
      assert.equal(await metric('crtrail_alerts_sent_total', { sink: 'flaky' }), webhookIds.length);
      assert.equal(await metric('crtrail_alerts_failed_total', { sink: 'down' }), webhookIds.length);
      assert.equal(await metric('crtrail_alerts_dead_letters'), webhookIds.length);
      assert.match(
        await registry.metrics(),
        /crtrail_alert_latency_seconds_count\{[^}]*sink="slack-[0-9a-f]{8}"[^}]*\} [1-9]/,
      );

      // The same events again: records are duplicates, nothing is alerted again.
      const before = rx.got.length;
      await post(p.url, 'demo', story);
      await p.idle();
      await eventually(async () => {
        const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((n) => n === 0) ? true : undefined;
      });
      assert.equal(rx.got.length, before, 'a replay sends nothing');

      // Even handed the stored records again (a repair, a re-drive), the sent markers hold.
      const redis = createRedis(testRedisUrl());
      const again = await createAlerting({
        redis,
        prefix: p.prefix,
        config: loadConfig(configFile),
        registry: new Registry(),
      });
      try {
        await again.enqueue(
          'demo',
          records.map((r) => ({ id: r._id, doc: r._source })),
        );
        await eventually(async () => {
          const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          return Object.values(c).every((n) => n === 0) ? true : undefined;
        });
        const dropped = await again.metrics.dropped.get();
        assert.ok(
          dropped.values.some((v) => v.labels.reason === 'duplicate' && v.value >= webhookIds.length * 4),
          JSON.stringify(dropped.values),
        );
        const notDown = rx.got.slice(before).filter((r) => r.path !== '/down');
        assert.deepEqual(notDown, [], 'nothing sent again to the sinks that had it');
      } finally {
        await again.close();
        redis.disconnect();
      }
    } finally {
      await q.close();
    }
  });

  test('the alerts no sink took are listed by `dlq list` and, once the sink is fixed, sent by `dlq replay`, once each', async () => {
    const env = {
      CRTRAIL_INDEX_PREFIX: p.prefix,
      CRTRAIL_ES_URL: testEsUrl(),
      CRTRAIL_REDIS_URL: testRedisUrl(),
      CRTRAIL_LOG_LEVEL: 'warn',
    };
    const q = new Queue(alertQueueName(p.prefix), { connection: p.redis });
    try {
      const failed = await q.getFailed();
      assert.ok(failed.length > 0, 'the first test left the `down` sink its dead letters');
      const ids = failed.map((j) => j.data.alert.record_id as string).sort();

      const list = await runCli(['dlq', 'list'], env);
      assert.equal(list.code, 0, list.stderr);
      assert.match(
        list.stderr,
        new RegExp(`0 dead letter\\(s\\), 0 failed batch\\(es\\), ${ids.length} failed alert\\(s\\)`),
      );
      const lines = list.stdout.trim().split('\n');
      for (const job of failed) {
        const line = lines.find((l) => l.startsWith(`alert:${job.id}\t`));
        assert.ok(line, list.stdout);
        const [, at, cluster, what, reason] = line!.split('\t');
        assert.ok(!Number.isNaN(Date.parse(at!)), line);
        assert.equal(cluster, 'demo');
        assert.equal(what, `sink down, record ${job.data.alert.record_id}, 3 attempts`);
        assert.match(reason!, /500/);
      }
      const json = (await runCli(['dlq', 'list', '--json'], env)).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        json.map((j) => [j.type, j.message, j.sink, j.records.length]),
        ids.map(() => ['alert', 'send', 'down', 1]),
      );

      // An unknown id is an error naming it; nothing moves.
      const unknown = await runCli(['dlq', 'replay', '--id', 'alert:no-such-job'], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no dead letter, failed batch or failed alert with id alert:no-such-job/);
      assert.equal(await q.getFailedCount(), ids.length);

      // The sink fixed: one alert by its id, then the rest; the running worker sends each once.
      rx.fixDown();
      const one = await runCli(['dlq', 'replay', '--id', `alert:${failed[0]!.id}`], env);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /failed alerts re-queued 1\b/);
      const rest = await runCli(['dlq', 'replay'], env);
      assert.equal(rest.code, 0, rest.stderr);
      assert.match(rest.stdout, /failed alerts re-queued \d+/);
      await eventually(
        async () => (delivered(rx.got, '/down').length >= ids.length ? true : undefined),
        60_000,
        'the re-driven alerts delivered',
      );
      await eventually(async () => {
        const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
        return Object.values(c).every((n) => n === 0) ? true : undefined;
      });
      assert.deepEqual(delivered(rx.got, '/down').sort(), ids, 'each failed alert delivered once');
      const empty = await runCli(['dlq', 'list'], env);
      assert.match(empty.stderr, /0 failed alert\(s\)/);
    } finally {
      await q.close();
    }
  });
});

/** The demo's Certificate, then `n` more hand edits of its critical `spec.dnsNames` (a flapping object). */
function flappingCertificate(n: number): LooseJson[] {
  const [create, status, edit]: LooseJson[] = demoStory().slice(0, 3);
  if (!create || !status || !edit) throw new Error('the demo story starts with a create, a status write and an edit');
  const edits = [edit];
  for (let i = 1; i <= n - 1; i++) {
    const e = structuredClone(edit);
    e.auditID = `${edit.auditID.slice(0, -4)}${String(1000 + i)}`;
    const at = Date.parse(edit.stageTimestamp) + i * 1000;
    e.stageTimestamp = new Date(at).toISOString().replace('Z', '000Z');
    e.requestReceivedTimestamp = e.stageTimestamp;
    const names = ['pay.example.com', ...Array.from({ length: i + 1 }, (_, k) => `pay-admin-${k}.example.com`)];
    e.requestObject = { spec: { dnsNames: names } };
    e.responseObject.spec.dnsNames = names;
    e.responseObject.metadata.resourceVersion = String(48675 + i);
    edits.push(e);
  }
  return [create, status, ...edits];
}

describe('alerts of a flapping object are grouped', () => {
  let p: Pipeline;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let dir: string;

  before(async () => {
    rx = await receiver();
    dir = mkdtempSync(join(tmpdir(), 'crtrail-alerts-'));
    const configFile = join(dir, 'crtrail.yaml');
    writeFileSync(
      configFile,
      [
        'alerts:',
        '  group_window_seconds: 2',
        '  attempts: 2',
        '  sinks:',
        `    - { type: webhook, url: "${rx.base}/webhook" }`,
        `    - { type: webhook, name: flaky-group, url: "${rx.base}/flaky-group" }`,
        `    - { type: webhook, name: down-group, url: "${rx.base}/down" }`,
      ].join('\n'),
    );
    p = await startPipeline(uniquePrefix('alerts-group'), { env: { CRTRAIL_CONFIG: configFile } });
  });
  after(async () => {
    await p?.close();
    rx?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the first alert goes at once; the next ones within the window are one message with a count and every record id', async () => {
    const events = flappingCertificate(4);
    await post(p.url, 'flap', events);
    await p.idle();
    const records = await p.search({ term: { 'orchestrator.cluster.name': 'flap' } });
    const edits = records.filter((r) => r._source.crtrail.actor.name === 'alice@example.com');
    assert.equal(edits.length, 4);
    assert.ok(
      edits.every((r) => r._source.crtrail.change.critical),
      'every edit touches a critical field',
    );
    const create = records.find((r) => r._source.kubernetes.audit.responseStatus.code === 201)!;
    const messages = await eventually(
      async () => {
        const to = (path: string) => rx.got.filter((r) => r.path === path && r.status === 200);
        return to('/webhook').length >= 2 && to('/flaky-group').length >= 2
          ? to('/webhook').map((r) => r.body)
          : undefined;
      },
      30_000,
      'two messages to each sink',
    );
    assert.equal(messages.length, 2, JSON.stringify(messages.map((m) => [m.count, m.record_ids])));
    assert.deepEqual([messages[0]!.count, messages[0]!.record_ids], [1, [create._id]]);
    assert.equal(messages[1]!.count, 4);
    assert.equal(messages[1]!.window_seconds, 2);
    assert.deepEqual([...messages[1]!.record_ids].sort(), edits.map((r) => r._id).sort());
    const latest = edits.reduce((a, b) => (b._source['@timestamp'] > a._source['@timestamp'] ? b : a));
    assert.equal(messages[1]!.alert.record_id, latest._id, 'the latest change is the one shown');
    // A grouped message that failed once is sent again, whole, and only once it worked.
    const flaky = rx.got.filter((r) => r.path === '/flaky-group');
    assert.deepEqual(
      flaky.map((r) => [r.status, r.body.count]),
      [
        [200, 1],
        [500, 4],
        [200, 4],
      ],
    );
    assert.deepEqual(flaky[2]!.body.record_ids, flaky[1]!.body.record_ids);

    // Replayed: nothing more, grouped or not.
    await post(p.url, 'flap', events);
    await p.idle();
    const q = new Queue(alertQueueName(p.prefix), { connection: p.redis });
    try {
      await eventually(async () => {
        const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((n) => n === 0) ? true : undefined;
      });
    } finally {
      await q.close();
    }
    assert.equal(rx.got.filter((r) => r.path !== '/down').length, 5, 'nothing more after the replay');

    // The sink that never works: its single message and its grouped one are the alert dead letters,
    // the grouped one listed with the records of its window.
    const list = await runCli(['dlq', 'list', '--json'], {
      CRTRAIL_INDEX_PREFIX: p.prefix,
      CRTRAIL_ES_URL: testEsUrl(),
      CRTRAIL_REDIS_URL: testRedisUrl(),
    });
    assert.equal(list.code, 0, list.stderr);
    const failed = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((j) => j.type === 'alert');
    assert.deepEqual(failed.map((j) => [j.message, j.sink, j.cluster, [...j.records].sort(), j.attempts]).sort(), [
      ['flush', 'down-group', 'flap', edits.map((r) => r._id).sort(), 2],
      ['send', 'down-group', 'flap', [create._id], 2],
    ]);
  });
});
