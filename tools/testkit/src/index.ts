import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@elastic/elasticsearch';
import { Cluster, Redis } from 'ioredis';
import { repoRoot } from '@crtrail/stack';
import { createEsClient, deletePrefix } from '@crtrail/store';

/** A prefix no other test uses: queue names, Redis keys and index names all derive from it. */
export function uniquePrefix(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 20);
  return `t-${clean}-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export const testRedisUrl = (): string => process.env.CRTRAIL_REDIS_URL || 'redis://127.0.0.1:6379';
export const testEsUrl = (): string => process.env.CRTRAIL_ES_URL || 'http://127.0.0.1:9200';

export function testEs(): Client {
  return createEsClient({ url: testEsUrl() });
}

export function testRedis(): Redis {
  return new Redis(testRedisUrl(), { maxRetriesPerRequest: 3 });
}

/**
 * Deletes every Redis key of a prefix (BullMQ's `bull:<prefix>-…` and crtrail's `<prefix>:…`, and
 * their hash-tagged Redis Cluster forms `bull:{<prefix>}-…` / `{<prefix>}:…`). On a Redis Cluster
 * every master is scanned (SCAN sees only the node it is sent to).
 */
export async function deleteRedisPrefix(redis: Redis | Cluster, prefix: string): Promise<number> {
  let deleted = 0;
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    for (const pattern of [`bull:${prefix}-*`, `${prefix}:*`, `bull:{${prefix}}-*`, `{${prefix}}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        // One DEL per key on a cluster node: keys of one scan may lie in different slots.
        if (keys.length > 0)
          deleted +=
            redis instanceof Cluster
              ? (await Promise.all(keys.map((k) => node.del(k)))).reduce((a, b) => a + b, 0)
              : await node.del(...keys);
      } while (cursor !== '0');
    }
  }
  return deleted;
}

/** Removes everything a test made under `prefix` in Redis and Elasticsearch. */
export async function cleanupPrefix(prefix: string, es: Client, redis: Redis): Promise<void> {
  await deletePrefix(es, prefix);
  await deleteRedisPrefix(redis, prefix);
}

/** The sample audit data shipped in the repository (`examples/audit`, sources in its SOURCES.md). */
export function fixturesDir(): string {
  const fromEnv = process.env.CRTRAIL_FIXTURES_DIR;
  if (fromEnv) return fromEnv;
  return join(repoRoot(), 'examples', 'audit');
}

export function publicFixtureFiles(): string[] {
  const dir = join(fixturesDir(), 'public');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson') || f.endsWith('.json') || f.endsWith('.gz'))
    .sort()
    .map((f) => join(dir, f));
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(100);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (taken, then released): for a server to start on, or one nothing listens on. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export const thisDir = (url: string): string => dirname(fileURLToPath(url));
export { startTcpProxy, type TcpProxy } from './proxy.js';
