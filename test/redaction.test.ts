import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { uniquePrefix } from '@crtrail/testkit';
import { indexNames } from '@crtrail/store';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import type { LooseJson, StoredDoc } from './helpers/loose.js';

const CANARY = 'canary-s3cr3t-5b1e9d';

function dbEvent(n: number, password: string, rv: number) {
  const object = {
    apiVersion: 'db.example.com/v1',
    kind: 'Database',
    metadata: { name: 'orders', namespace: 'shop', uid: 'db-uid-1', resourceVersion: String(rv) },
    spec: { engine: 'postgres', auth: { user: 'app', password } },
  };
  return {
    level: 'RequestResponse',
    auditID: `redact-${n}`,
    stage: 'ResponseComplete',
    requestURI: '/apis/db.example.com/v1/namespaces/shop/databases/orders',
    verb: n === 1 ? 'create' : 'update',
    user: { username: 'alice@example.com' },
    userAgent: 'kubectl/v1.29.3',
    objectRef: {
      apiGroup: 'db.example.com',
      apiVersion: 'v1',
      resource: 'databases',
      namespace: 'shop',
      name: 'orders',
    },
    responseStatus: { code: n === 1 ? 201 : 200 },
    stageTimestamp: `2026-11-02T10:00:0${n}.000000Z`,
    requestObject: object,
    responseObject: object,
  };
}

describe('redaction end to end: a secret value reaches no index, no Redis key, no log, no dead letter', () => {
  let p: Pipeline;
  const logs: string[] = [];
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crtrail-cfg-'));
    const file = join(dir, 'crtrail.yaml');
    writeFileSync(
      file,
      'redaction:\n  paths:\n    - group: db.example.com\n      kind: Database\n      paths: [spec.auth.password]\n',
    );
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    });
    p = await startPipeline(uniquePrefix('redaction'), {
      env: { CRTRAIL_CONFIG: file, CRTRAIL_LOG_LEVEL: 'debug' },
      log: pino({ level: 'debug' }, sink),
    });
  });
  after(async () => p?.close());

  test('the canary is replayed, then searched for everywhere', async () => {
    for (const [n, pw, rv] of [
      [1, CANARY, 10],
      [2, `${CANARY}-rotated`, 11],
    ] as const) {
      const res = await fetch(`${p.url}/audit/redact`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: eventList([dbEvent(n, pw, rv)]),
      });
      assert.equal(res.status, 200);
    }
    // A record Elasticsearch refuses lands in the DLQ: it must be redacted too. (Refused through a
    // stricter mapping: a bad timestamp would be a 400 at the webhook, which types what the shipped mapping types.)
    await p.es.indices.putMapping({
      index: indexNames(p.prefix).pattern,
      properties: {
        kubernetes: {
          properties: { audit: { properties: { impersonatedUser: { properties: { uid: { type: 'long' } } } } } },
        },
      },
    });
    const bad = { ...dbEvent(3, `${CANARY}-dlq`, 12), impersonatedUser: { username: 'bob', uid: 'not-a-number' } };
    await fetch(`${p.url}/audit/redact`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: eventList([bad]),
    });
    await p.idle();

    // Every document of every index of this prefix, whole.
    await p.es.indices.refresh({ index: `${p.prefix}-*` });
    const all = await p.es.search({ index: `${p.prefix}-*`, size: 100, query: { match_all: {} } });
    assert.ok(all.hits.hits.length >= 2);
    assert.doesNotMatch(JSON.stringify(all.hits.hits), new RegExp(CANARY));
    // Every Redis key: queue jobs, state histories, dead letters.
    const keys = [...(await p.redis.keys(`bull:${p.prefix}-*`)), ...(await p.redis.keys(`${p.prefix}:*`))];
    assert.ok(
      keys.some((k) => k.endsWith(':dlq')),
      'the refused record is dead-lettered',
    );
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
                ? await p.redis.zrange(key, 0, -1)
                : type === 'set'
                  ? await p.redis.smembers(key)
                  : type === 'stream'
                    ? await p.redis.xrange(key, '-', '+')
                    : '';
      assert.doesNotMatch(JSON.stringify(value), new RegExp(CANARY), key);
    }
    assert.ok(logs.length > 0);
    assert.doesNotMatch(logs.join(''), new RegExp(CANARY));

    // The rotation is still a visible change: old and new hashes differ.
    const update = (all.hits.hits as StoredDoc[]).find((h) => h._source.event.id === 'redact-2')!;
    const op = update._source.crtrail.change.ops.find((o: LooseJson) => o.path === '/spec/auth/password');
    assert.match(op.old, /^sha256:[0-9a-f]{64}$/);
    assert.match(op.new, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(op.old, op.new);
  });
});
