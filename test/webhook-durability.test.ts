import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { loadEnv } from '@crtrail/config';
import { createBatchQueue, JOB_BOUNDS, redisPersistence, type BatchJob } from '@crtrail/queue';
import { ensureRedis, pingRedis, repoRoot, startRedisServer, type Managed } from '@crtrail/stack';
import { deleteRedisPrefix, eventually, freePort, testRedis, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { buildWebhook, RedisBatchSink, startWebhook, type RunningWebhook } from '@crtrail/webhook';
import { eventList } from './helpers/events.js';
import { withWebhook } from './helpers/webhook.js';

/** A custom-resource mutation (kept by the filter), `pad` bytes of payload in its request/response objects. */
const event = (i: number, pad = 0) => ({
  level: pad ? 'RequestResponse' : 'Metadata',
  auditID: `d-${i}`,
  stage: 'ResponseComplete',
  requestURI: `/apis/example.com/v1/namespaces/x/widgets/w${i % 50}`,
  verb: 'patch',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'x', name: `w${i % 50}` },
  responseStatus: { code: 200 },
  requestReceivedTimestamp: '2026-01-02T03:04:05.123456Z',
  stageTimestamp: '2026-01-02T03:04:05.223456Z',
  ...(pad
    ? {
        requestObject: { spec: { blob: 'r'.repeat(pad / 2) } },
        responseObject: {
          apiVersion: 'example.com/v1',
          kind: 'Widget',
          metadata: { name: `w${i % 50}`, resourceVersion: String(i) },
          spec: { blob: 's'.repeat(pad / 2) },
        },
      }
    : {}),
});

/** The webhook's error answer (`{ error, reason }`). */
interface ErrorBody {
  error: string;
  reason: string;
}

/** What /readyz answers about Redis, as far as these tests read it. */
interface ReadyBody {
  status: string;
  warning?: string;
  redis: { persistent: boolean; aof: boolean; how: string };
}

const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${url}/audit/c1`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

/** A throw-away redis-server of this test's own (data dir in a temp folder, removed after). */
async function ownRedis(
  opts: { persistent?: boolean; args?: string[] } = {},
): Promise<{ url: string; port: number; server: Managed; dir: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crtrail-durability-'));
  const server = await startRedisServer(port, {
    dir,
    persistent: opts.persistent ?? false,
    ...(opts.args ? { args: opts.args } : {}),
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    server,
    dir,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every job of the queue, oldest first, as the worker would take them. */
async function jobsOf(hook: Pick<RunningWebhook, 'queue'>): Promise<BatchJob[]> {
  const jobs = await hook.queue.getJobs(['waiting'], 0, -1, true);
  return jobs.map((j) => j.data);
}

function assertBounded(jobs: BatchJob[], sent: Array<{ auditID: string }>) {
  assert.deepEqual(
    jobs.flatMap((j) => j.events.map((e) => e.auditID)),
    sent.map((e) => e.auditID),
    'all events, in order, exactly once',
  );
  const batch = jobs[0]!.batch;
  assert.ok(batch, 'the parts carry their batch id');
  jobs.forEach((j, i) => {
    assert.equal(j.batch, batch);
    assert.equal(j.part, i + 1);
    assert.equal(j.parts, jobs.length);
    assert.ok(j.events.length <= JOB_BOUNDS.maxEvents, `job ${i}: ${j.events.length} events`);
    const bytes = j.events.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0);
    assert.ok(j.events.length === 1 || bytes <= JOB_BOUNDS.maxBytes, `job ${i}: ${bytes} bytes`);
  });
}

describe('webhook durability: bounded jobs, written atomically', () => {
  test('a 20 MB batch of 400 × 50 KB events becomes several bounded jobs whose events add up exactly, in order', async () => {
    await withWebhook('durability', {}, async (hook) => {
      const items = Array.from({ length: 400 }, (_, i) => event(i, 50_000));
      const body = eventList(items);
      assert.ok(body.length > 20_000_000, `${body.length} bytes`);
      const res = await post(hook.url, body);
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), { accepted: 400 });
      const jobs = await jobsOf(hook);
      assert.ok(jobs.length >= 10, `${jobs.length} jobs`);
      assertBounded(jobs, items);
      const metrics = await (await fetch(`${hook.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`crtrail_webhook_jobs_per_batch_sum\\{service="webhook"\\} ${jobs.length}\\b`));
      assert.match(metrics, new RegExp(`crtrail_webhook_job_bytes_count\\{service="webhook"\\} ${jobs.length}\\b`));
    });
  });

  test('a 21 MB batch of 60,000 small events becomes jobs of at most 500 events', async () => {
    await withWebhook('durability', {}, async (hook) => {
      const items = Array.from({ length: 60_000 }, (_, i) => event(i));
      const body = eventList(items);
      assert.ok(body.length > 21_000_000, `${body.length} bytes`);
      const res = await post(hook.url, body);
      assert.equal(res.status, 200, await res.clone().text());
      const jobs = await jobsOf(hook);
      assert.equal(jobs.length, 120);
      assertBounded(jobs, items);
    });
  });

  test('a small batch stays one job (no batch id needed)', async () => {
    await withWebhook('durability', {}, async (hook) => {
      assert.equal((await post(hook.url, eventList([event(1), event(2)]))).status, 200);
      const jobs = await jobsOf(hook);
      assert.equal(jobs.length, 1);
      assert.deepEqual(
        jobs[0]!.events.map((e) => e.auditID),
        ['d-1', 'd-2'],
      );
      assert.equal(jobs[0]!.batch, undefined);
    });
  });

  test('the connection to Redis dies in the middle of a batch’s write: 503 and not one of its jobs, or 200 and all of them once', async () => {
    // A proxy that passes Redis traffic through and, once armed, cuts both sides after 3 MB more of
    // requests: mid-way through a 10 MB batch's jobs. A plain pipeline (what BullMQ's addBulk uses)
    // would leave the first jobs written; the transaction leaves none.
    // Counted per connection: the webhook's other connections (readiness, gauges) send small commands
    // meanwhile, and with one shared count the cut could land on one of them while the batch's
    // transaction went through whole (seen once under CI load).
    let armed = false;
    const target = new URL(testRedisUrl());
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port || 6379) });
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      let sinceArmed = 0;
      client.on('data', (chunk: Buffer) => {
        if (armed) sinceArmed += chunk.length;
        if (armed && sinceArmed > 3_000_000) {
          armed = false;
          drop();
          return;
        }
        upstream.write(chunk);
      });
      upstream.pipe(client);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    const prefix = uniquePrefix('durability-cut');
    const hook = await startWebhook(
      loadEnv({ CRTRAIL_REDIS_URL: `redis://127.0.0.1:${port}`, CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0' }),
      false,
    );
    const direct = testRedis();
    const queue = createBatchQueue(prefix, direct);
    try {
      const items = Array.from({ length: 200 }, (_, i) => event(i, 50_000));
      armed = true;
      const res = await post(hook.url, eventList(items));
      assert.equal(armed, false, 'the proxy did cut the connection');
      // Two outcomes are right, and the timing decides between them. If Redis's +OK to MULTI had come
      // back before the cut, ioredis rejects the transaction's fragments (503; Redis dropped the MULTI
      // without its EXEC). If it had not (a loaded machine), ioredis keeps the whole MULTI … EXEC and
      // sends it again on its new connection (200, every job once): see abortTransactionFragments and
      // autoResendUnfulfilledCommands in ioredis. What may never happen is a part of the batch.
      const written = await jobsOf({ queue });
      if (res.status === 503) {
        assert.ok(Number(res.headers.get('retry-after')) > 0);
        assert.deepEqual(written, [], 'not one job of the batch');
        assert.equal(await direct.exists(`bull:${prefix}-batches:1`), 0, 'not even the first job');
      } else {
        assert.equal(res.status, 200, await res.text());
        assertBounded(written, items);
      }
      assert.deepEqual(await queue.getJobCounts('active', 'delayed', 'prioritized', 'paused'), {
        active: 0,
        delayed: 0,
        prioritized: 0,
        paused: 0,
      });
      // Reconnected: the next batch is written whole.
      const again = await eventually(
        async () => {
          const r = await post(hook.url, eventList([event(7)]));
          return r.status === 200 ? r : undefined;
        },
        10_000,
        'an ack after the reconnect',
      );
      assert.equal(again.status, 200);
      const after = await jobsOf({ queue });
      assert.deepEqual(
        after.slice(written.length).map((j) => j.events.map((e) => e.auditID)),
        [['d-7']],
      );
    } finally {
      await hook.close();
      await queue.close();
      await deleteRedisPrefix(direct, prefix);
      direct.disconnect();
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });

  test('a Redis that refuses the write (out of memory) → 503 and zero jobs of the batch', async () => {
    const redis = await ownRedis();
    const prefix = uniquePrefix('durability-oom');
    const hook = await startWebhook(
      loadEnv({ CRTRAIL_REDIS_URL: redis.url, CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0' }),
      false,
    );
    const admin = new Redis(redis.url);
    try {
      await admin.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      await admin.call('CONFIG', 'SET', 'maxmemory', '1');
      const res = await post(hook.url, eventList(Array.from({ length: 200 }, (_, i) => event(i, 50_000))));
      assert.equal(res.status, 503);
      // The transaction (or the kind-table script before it) is refused for memory: nothing was written.
      assert.match(((await res.json()) as ErrorBody).reason, /OOM/);
      await admin.call('CONFIG', 'SET', 'maxmemory', '0');
      assert.deepEqual(await hook.queue.getJobCounts('waiting', 'paused'), { waiting: 0, paused: 0 });
    } finally {
      admin.disconnect();
      await hook.close();
      await redis.stop();
    }
  });
});

describe('webhook durability: refused at the door', () => {
  test('a field Elasticsearch could never index is a 400 naming it, and nothing is enqueued', async () => {
    await withWebhook('durability', {}, async (hook) => {
      const cases: Array<[object, RegExp]> = [
        [{ stageTimestamp: '2026-01-02 03:04:05' }, /^items\[3\]\.stageTimestamp: must be an RFC 3339 timestamp/],
        [
          { requestReceivedTimestamp: 'yesterday' },
          /^items\[3\]\.requestReceivedTimestamp: must be an RFC 3339 timestamp/,
        ],
        [{ responseStatus: { code: '200' } }, /^items\[3\]\.responseStatus\.code: must be integer/],
        [{ responseStatus: { code: 409, reason: 1 } }, /^items\[3\]\.responseStatus\.reason: must be string/],
        [
          { objectRef: { ...event(3).objectRef, resourceVersion: 5 } },
          /^items\[3\]\.objectRef\.resourceVersion: must be string/,
        ],
        [{ sourceIPs: [1] }, /^items\[3\]\.sourceIPs\[0\]: must be string/],
        [{ annotations: { a: 1 } }, /^items\[3\]\.annotations\.a: must be string/],
      ];
      for (const [bad, reason] of cases) {
        const items = [event(0), event(1), event(2), { ...event(3), ...bad }];
        const res = await post(hook.url, eventList(items));
        assert.equal(res.status, 400, JSON.stringify(bad));
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error, 'CRTRAIL_ERR_INVALID_BATCH');
        assert.match(body.reason, reason);
      }
      assert.equal((await jobsOf(hook)).length, 0);
    });
  });

  test('invalid UTF-8 in the body is a 400 naming the byte, plain or gzip; valid multi-byte text passes', async () => {
    await withWebhook('durability', {}, async (hook) => {
      const good = Buffer.from(eventList([{ ...event(1), user: { username: 'zoë' } }]));
      const at = good.indexOf('zo') + 2;
      // A lone 0xC3 (the first byte of ë without its second): decoded as a string it would become U+FFFD.
      const bad = Buffer.concat([good.subarray(0, at), Buffer.from([0xc3]), good.subarray(at + 2)]);
      for (const [body, headers] of [
        [bad, {}],
        [gzipSync(bad), { 'content-encoding': 'gzip' }],
      ] as const) {
        const res = await post(hook.url, body, headers);
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as ErrorBody).reason, `body: invalid UTF-8 at byte ${at}`);
      }
      assert.equal((await jobsOf(hook)).length, 0);
      assert.equal((await post(hook.url, good)).status, 200);
      assert.equal((await jobsOf(hook))[0]!.events[0]!.user.username, 'zoë');
    });
  });
});

describe('webhook durability: a Redis that persists', () => {
  test('/readyz and the start-up log say when Redis keeps nothing on disk; not when appendonly is on', async () => {
    const volatile = await ownRedis();
    const durable = await ownRedis({ persistent: true });
    try {
      for (const [redis, persistent] of [
        [volatile, false],
        [durable, true],
      ] as const) {
        const lines: string[] = [];
        const logger = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
        const prefix = uniquePrefix('durability-ready');
        const hook = await startWebhook(
          loadEnv({ CRTRAIL_REDIS_URL: redis.url, CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0' }),
          logger,
        );
        try {
          const res = await fetch(`${hook.url}/readyz`);
          assert.equal(res.status, 200, 'ready either way');
          const body = (await res.json()) as ReadyBody;
          assert.equal(body.status, 'ready');
          assert.equal(body.redis.persistent, persistent);
          assert.equal(body.redis.aof, persistent);
          const warned = lines.map((l) => JSON.parse(l)).filter((l) => l.code === 'CRTRAIL_WARN_REDIS_NOT_PERSISTENT');
          if (persistent) {
            assert.equal(body.warning, undefined);
            assert.match(body.redis.how, /appendonly yes \(appendfsync everysec\)/);
            assert.equal(warned.length, 0);
          } else {
            assert.match(
              body.warning ?? '',
              new RegExp(
                `^Redis at ${redis.url} keeps nothing on disk \\(appendonly no, save ''\\): a restart of it loses every acked batch`,
              ),
            );
            assert.equal(warned.length, 1);
            assert.equal(warned[0].level, 40);
            assert.equal(warned[0].msg, body.warning);
          }
        } finally {
          await hook.close();
        }
      }
    } finally {
      await volatile.stop();
      await durable.stop();
    }
  });

  test('the machine Redis is read as it is configured; CONFIG renamed away → INFO persistence', async () => {
    const machine = testRedis();
    const renamed = await ownRedis({ persistent: true, args: ['--rename-command', 'CONFIG', ''] });
    const r = new Redis(renamed.url);
    try {
      const expected = (await machine.call('CONFIG', 'GET', 'appendonly')) as string[];
      const save = (await machine.call('CONFIG', 'GET', 'save')) as string[];
      const p = await redisPersistence(machine);
      assert.equal(p.aof, expected[1] === 'yes');
      assert.equal(p.rdb, save[1] !== '');
      await withWebhook('durability', {}, async (hook) => {
        const body = (await (await fetch(`${hook.url}/readyz`)).json()) as ReadyBody;
        assert.equal(body.redis.persistent, p.persistent);
        assert.equal(body.warning === undefined, p.persistent, 'a warning exactly when nothing is persisted');
      });
      await assert.rejects(r.call('CONFIG', 'GET', 'appendonly'), /unknown command/);
      const viaInfo = await redisPersistence(r);
      assert.equal(viaInfo.aof, true);
      assert.equal(viaInfo.persistent, true);
      assert.match(viaInfo.how, /INFO persistence/);
    } finally {
      machine.disconnect();
      r.disconnect();
      await renamed.stop();
    }
  });

  test('the Redis `crtrail up` starts is durable and keeps its data across a restart', async () => {
    const port = await freePort();
    const cache = mkdtempSync(join(tmpdir(), 'crtrail-up-redis-'));
    const dir = join(cache, `redis-${port}`);
    const url = `redis://127.0.0.1:${port}`;
    const before = process.env.CRTRAIL_CACHE_DIR;
    process.env.CRTRAIL_CACHE_DIR = cache;
    try {
      // As `crtrail up` calls it: no options → durable, in <cache>/redis-<port>.
      const first = await ensureRedis(url);
      assert.ok(first.started);
      let r = new Redis(url);
      assert.deepEqual(await r.call('CONFIG', 'GET', 'appendonly'), ['appendonly', 'yes']);
      assert.deepEqual(await r.call('CONFIG', 'GET', 'appendfsync'), ['appendfsync', 'everysec']);
      assert.deepEqual(await r.call('CONFIG', 'GET', 'dir'), ['dir', dir]);
      await r.set('acked', 'batch-1');
      r.disconnect();
      await first.started.stop(); // SIGTERM, as Ctrl-C does: the AOF is flushed, the folder stays
      assert.ok(existsSync(dir));
      const second = await ensureRedis(url);
      r = new Redis(url);
      assert.equal(await r.get('acked'), 'batch-1');
      r.disconnect();
      await second.started?.stop();
    } finally {
      if (before === undefined) delete process.env.CRTRAIL_CACHE_DIR;
      else process.env.CRTRAIL_CACHE_DIR = before;
      rmSync(cache, { recursive: true, force: true });
    }
  });

  test('CRTRAIL_REDIS_WAIT_REPLICAS=1: 200 once a real replica has the batch; 503 saying why without one', async () => {
    const primary = await ownRedis();
    let replica: Awaited<ReturnType<typeof ownRedis>> | undefined;
    let replicaConn: Redis | undefined;
    const prefix = uniquePrefix('durability-wait');
    try {
      // Without a replica: written to the primary, but not acked.
      const lonely = await startWebhook(
        loadEnv({
          CRTRAIL_REDIS_URL: primary.url,
          CRTRAIL_INDEX_PREFIX: prefix,
          CRTRAIL_PORT: '0',
          CRTRAIL_REDIS_WAIT_REPLICAS: '1',
        }),
        false,
      );
      try {
        const res = await post(lonely.url, eventList([event(1)]));
        assert.equal(res.status, 503);
        assert.ok(Number(res.headers.get('retry-after')) > 0);
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error, 'CRTRAIL_ERR_REPLICAS_BEHIND');
        assert.match(
          body.reason,
          /only 0 of 1 Redis replicas confirmed it within 1000 ms \(CRTRAIL_REDIS_WAIT_REPLICAS\)/,
        );
      } finally {
        await lonely.close();
      }
      replica = await ownRedis({
        args: ['--replicaof', '127.0.0.1', String(primary.port), '--enable-debug-command', 'yes'],
      });
      const conn = (replicaConn = new Redis(replica.url));
      await eventually(
        async () => ((await conn.info('replication')).includes('master_link_status:up') ? true : undefined),
        20_000,
        'replica in sync',
      );
      const hook = await startWebhook(
        loadEnv({
          CRTRAIL_REDIS_URL: primary.url,
          CRTRAIL_INDEX_PREFIX: prefix,
          CRTRAIL_PORT: '0',
          CRTRAIL_REDIS_WAIT_REPLICAS: '1',
        }),
        false,
      );
      try {
        const res = await post(hook.url, eventList([event(2), event(3)]));
        assert.equal(res.status, 200, await res.clone().text());
        // Acked means on the replica too: read it there, at once.
        const onReplica = createBatchQueue(prefix, conn);
        const jobs = await onReplica.getJobs(['waiting']);
        assert.ok(jobs.some((j) => j.data.events.map((e) => e.auditID).join() === 'd-2,d-3'));
        await onReplica.close();
        // A replica that is there but cannot confirm in time (frozen for 3 s): 503, even though the
        // primary has the jobs. (A WAIT on a connection that wrote nothing would answer 1 at once.)
        const sleeper = new Redis(replica.url);
        const frozen = sleeper.call('DEBUG', 'SLEEP', '3').catch(() => {});
        await sleep(100);
        const late = await post(hook.url, eventList([event(4)]));
        assert.equal(late.status, 503);
        assert.match(((await late.json()) as ErrorBody).reason, /only 0 of 1 Redis replicas/);
        await frozen;
        sleeper.disconnect();
      } finally {
        await hook.close();
      }
      assert.throws(() => loadEnv({ CRTRAIL_REDIS_WAIT_REPLICAS: '-1' }), /CRTRAIL_REDIS_WAIT_REPLICAS/);
      assert.throws(() => loadEnv({ CRTRAIL_REDIS_WAIT_REPLICAS: 'two' }), /CRTRAIL_REDIS_WAIT_REPLICAS/);
    } finally {
      replicaConn?.disconnect();
      await replica?.stop();
      await primary.stop();
    }
  });
});

describe('webhook durability: time limits and who starts Redis', () => {
  test('a client sending its headers slowly is cut within ~1 s of the headers timeout, not 30 s later', async () => {
    const redis = testRedis();
    const prefix = uniquePrefix('durability-slow');
    const queue = createBatchQueue(prefix, redis);
    const app = buildWebhook({
      sink: new RedisBatchSink(queue, redis),
      defaultCluster: 'default',
      bodyLimit: 1024 * 1024,
      timeouts: { headersMs: 1_000 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const socket = connect({ host: '127.0.0.1', port });
    const started = Date.now();
    let answer = '';
    let drip: NodeJS.Timeout | undefined;
    try {
      const closed = new Promise<number>((resolveClosed) =>
        socket.on('close', () => resolveClosed(Date.now() - started)),
      );
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('error', () => {});
      socket.write('POST /audit/c1 HTTP/1.1\r\nHost: x\r\n');
      // One header byte every 200 ms: never done, always sending (a slowloris).
      drip = setInterval(() => socket.writable && socket.write('X'), 200);
      const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
      assert.notEqual(after, -1, 'cut at all');
      // Node's default 30 s check would let it through to 30–31 s; at 1 s it is cut by ~2 s.
      assert.ok(after >= 1_000 && after < 10_000, `cut after ${after} ms`);
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
      socket.destroy();
      await app.close();
      await queue.close();
      await deleteRedisPrefix(redis, prefix);
      redis.disconnect();
    }
  });

  test('`up --webhook-only` / `--worker-only` never start a Redis: exit ≠ 0 naming CRTRAIL_REDIS_URL', async () => {
    const port = await freePort();
    const cli = join(repoRoot(), 'services', 'cli', 'bin', 'crtrail.js');
    for (const flag of ['--webhook-only', '--worker-only']) {
      const child = spawn(process.execPath, [cli, 'up', flag], {
        env: {
          ...process.env,
          CRTRAIL_REDIS_URL: `redis://127.0.0.1:${port}`,
          CRTRAIL_PORT: '0',
          CRTRAIL_WORKER_PORT: '0',
          CRTRAIL_INDEX_PREFIX: uniquePrefix('durability-up'),
          CRTRAIL_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.notEqual(code, 0, flag);
      assert.match(
        stderr,
        new RegExp(
          `Redis at redis://127\\.0\\.0\\.1:${port} does not answer: ${flag} never starts one; .*CRTRAIL_REDIS_URL`,
        ),
        stderr,
      );
      assert.equal(await pingRedis(`redis://127.0.0.1:${port}`), false, 'no Redis was started');
    }
  });
});
