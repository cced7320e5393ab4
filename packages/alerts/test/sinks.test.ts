import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import {
  buildAlert,
  groupAlerts,
  kibanaLinks,
  MAX_VALUE_CHARS,
  recordFacts,
  sendToSink,
  singleMessage,
  SinkError,
  type ResolvedSink,
} from '../src/index.js';

/** The parts of the three sinks' JSON bodies these assertions read. */
interface WebhookJson {
  kind: string;
  record_ids: string[];
  alert: { actor: unknown };
}
interface SlackJson {
  text: string;
  blocks: Array<{ type: string }>;
}
type AlertmanagerJson = Array<{ labels: Record<string, string>; startsAt: string; generatorURL: string }>;

interface Hit {
  path: string;
  headers: Record<string, unknown>;
  body: unknown;
}

let server: Server;
let base: string;
const hits: Hit[] = [];
const answers = new Map<string, number>();

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      hits.push({ path, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const status = answers.get(path) ?? 200;
      res
        .writeHead(status, status === 302 ? { location: '/elsewhere' } : {})
        .end(status === 200 ? 'ok' : 'no such hook');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => server.close());

const SECRET = 'sha256:3f1a7c0e5b';
const facts = recordFacts('rec-123', {
  '@timestamp': '2026-11-30T10:00:00.000000Z',
  event: { action: 'patch', outcome: 'success' },
  orchestrator: { cluster: { name: 'prod' } },
  source: { ip: '192.0.2.44' },
  kubernetes: { audit: { responseStatus: { code: 200 }, userAgent: 'kubectl/v1.29.3' } },
  crtrail: {
    actor: { kind: 'human', name: 'alice@example.com', tool: 'kubectl-edit' },
    object: {
      group: 'db.example.com',
      kind: 'Database',
      resource: 'databases',
      namespace: 'pay',
      name: "o'brien<&>",
      version: 'v1',
    },
    change: {
      ops: [
        { op: 'replace', path: '/spec/auth/password', old: SECRET, new: 'sha256:99aa' },
        { op: 'replace', path: '/spec/big', old: 'x', new: 'y'.repeat(5000) },
        { op: 'replace', path: '/spec/replicas', old: 1, new: 3 },
      ],
      paths: ['/spec/auth/password', '/spec/big', '/spec/replicas'],
      kind: 'spec',
      critical: true,
      critical_paths: ['/spec/auth/password', '/spec/big'],
      drift: true,
      dry_run: false,
    },
  },
});
const rule = { name: 'critical-change', description: 'a critical field was changed', matches: () => true };
const alert = buildAlert(facts, [rule], { kibanaUrl: 'https://kibana.example.com/base/' });

test('the payload: every critical path with old and new (hashes as stored), long values cut, links to the record and the timeline', () => {
  assert.deepEqual(
    alert.change.ops.map((o) => o.path),
    ['/spec/auth/password', '/spec/big'],
    'only the critical paths',
  );
  assert.equal(alert.change.ops_total, 3);
  assert.equal(alert.change.ops[0]!.old, SECRET);
  const big = alert.change.ops[1]!;
  assert.equal(big.truncated, true);
  assert.equal(String(big.new).length, MAX_VALUE_CHARS + 1);
  assert.match(
    alert.summary,
    /^alice@example\.com \(human, kubectl-edit\) patched db\.example\.com\/Database pay\/o'brien<&> in prod: \/spec\/auth\/password, \/spec\/big \[critical, drift\]$/,
  );
  // Kibana Discover: rison-quoted KQL (a `'` is `!'`), URL-encoded, on the record's _id / the object.
  const record = decodeURIComponent(alert.links.record!);
  assert.ok(
    record.startsWith("https://kibana.example.com/base/app/discover#/?_g=(time:(from:'2026-11-30T09:00:00.000Z'"),
    record,
  );
  assert.match(record, /query:'_id:"rec-123"'/);
  assert.match(decodeURIComponent(alert.links.timeline!), /crtrail\.object\.name:"o!'brien<&>"/);
  assert.deepEqual(kibanaLinks(facts, undefined), {}, 'no Kibana URL, no links');
  // With the index prefix: the saved objects of `crtrail kibana setup`.
  const keyed = recordFacts('rec-1', {
    crtrail: {
      object: {
        key: 'prod/db.example.com/databases/pay/main',
        group: 'db.example.com',
        resource: 'databases',
        namespace: 'pay',
        name: 'main',
      },
    },
  });
  const links = kibanaLinks(keyed, 'https://kibana.example.com', 'crtrail');
  assert.match(
    decodeURIComponent(links.record!),
    /_a=\(index:'crtrail-changes',query:\(language:kuery,query:'_id:"rec-1"'\)\)$/,
  );
  assert.equal(
    decodeURIComponent(links.timeline!),
    `https://kibana.example.com/app/discover#/view/crtrail-search-object-history?_g=(time:(from:'now-1y',to:'now'))&_a=(query:(language:lucene,query:'crtrail.object.key:"prod/db.example.com/databases/pay/main"'))`,
  );
});

test('each sink type is POSTed its format on a real local receiver', async () => {
  hits.length = 0;
  const sink = (type: ResolvedSink['type'], path: string): ResolvedSink => ({
    name: type,
    type,
    url: `${base}${path}`,
    criticalOnly: true,
  });
  await sendToSink(sink('webhook', '/hook'), singleMessage(alert));
  await sendToSink(sink('slack', '/services/T/B/x'), singleMessage(alert));
  await sendToSink(sink('alertmanager', '/am/'), singleMessage(alert));
  assert.deepEqual(
    hits.map((h) => h.path),
    ['/hook', '/services/T/B/x', '/am/api/v2/alerts'],
  );
  assert.ok(hits.every((h) => h.headers['content-type'] === 'application/json'));
  const [hook, slack, am] = hits.map((h) => h.body) as [WebhookJson, SlackJson, AlertmanagerJson];
  assert.equal(hook.kind, 'crtrail.alert');
  assert.deepEqual(hook.record_ids, ['rec-123']);
  assert.deepEqual(hook.alert.actor, {
    name: 'alice@example.com',
    kind: 'human',
    tool: 'kubectl-edit',
    sourceIP: '192.0.2.44',
    userAgent: 'kubectl/v1.29.3',
  });
  assert.match(slack.text, /alice@example\.com/);
  assert.equal(slack.blocks[0]?.type, 'header');
  const slackText = JSON.stringify(slack.blocks);
  assert.match(slackText, /o'brien&lt;&amp;&gt;/, 'mrkdwn control characters escaped');
  assert.match(slackText, /\/spec\/auth\/password: \\"sha256:3f1a7c0e5b\\" → \\"sha256:99aa\\"/);
  assert.match(slackText, /<https:\/\/kibana\.example\.com\/base\/app\/discover#[^|]+\|record>/);
  assert.ok(Array.isArray(am) && am.length === 1);
  assert.equal(am[0]?.labels.alertname, 'CrtrailChange');
  assert.equal(am[0]?.labels.record_id, 'rec-123');
  assert.equal(am[0]?.labels.severity, 'critical');
  assert.equal(am[0].startsAt, '2026-11-30T10:00:00.000000Z');
  assert.equal(am[0].generatorURL, alert.links.record);
  assert.ok(Object.values(am[0].labels).every((v) => typeof v === 'string' && v !== ''));
  // An Alertmanager URL given as the endpoint itself is not doubled.
  await sendToSink(sink('alertmanager', '/am2/api/v2/alerts'), singleMessage(alert));
  assert.equal(hits.at(-1)!.path, '/am2/api/v2/alerts');
});

test('a grouped message names the count, the window and every record; the latest alert is shown', async () => {
  hits.length = 0;
  const later = { ...alert, record_id: 'rec-124', time: '2026-11-30T10:00:05.000000Z' };
  const m = groupAlerts([alert, later], 60);
  assert.equal(m.alert.record_id, 'rec-124');
  await sendToSink({ name: 's', type: 'slack', url: `${base}/slack`, criticalOnly: true }, m);
  assert.match(JSON.stringify((hits[0]!.body as SlackJson).blocks), /2 changes to this object within 60s/);
  assert.throws(() => groupAlerts([], 60));
});

test('failures: 5xx/429 are retryable, another 4xx or a redirect is not, an unreachable sink is; the URL is never in the message', async () => {
  const sink = (path: string): ResolvedSink => ({
    name: 'team-slack',
    type: 'slack',
    url: `${base}${path}`,
    criticalOnly: true,
  });
  const cases: Array<[string, number, boolean]> = [
    ['/s500', 500, true],
    ['/s429', 429, true],
    ['/s404', 404, false],
    ['/s302', 302, false],
  ];
  for (const [path, status, retryable] of cases) {
    answers.set(path, status);
    await assert.rejects(sendToSink(sink(path), singleMessage(alert)), (err: unknown) => {
      assert.ok(err instanceof SinkError);
      assert.equal(err.status, status);
      assert.equal(err.retryable, retryable, path);
      assert.ok(!err.message.includes(base) && !err.message.includes(path), err.message);
      assert.match(err.message, /^sink team-slack: answered \d{3}/);
      return true;
    });
  }
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(
    sendToSink(
      { name: 'gone', type: 'webhook', url: `http://127.0.0.1:${port}/x`, criticalOnly: true },
      singleMessage(alert),
    ),
    (err: unknown) => {
      assert.ok(err instanceof SinkError && err.retryable);
      assert.match(err.message, /sink gone: not reached \(ECONNREFUSED\)/);
      return true;
    },
  );
});
