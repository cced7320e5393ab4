// Redis bytes of the state store, measured: the bench workload's batches processed for real (Redis and
// Elasticsearch), then MEMORY USAGE of every object history it left, with its number of versions.
// Prints bytes per tracked object and per version, and the estimate for 100,000 custom resources.
// Usage: node --import tsx bench/state-size.ts   (N=batches, default 300)
import type { AuditEvent } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { classifyEvent } from '@crtrail/filter';
import { installTemplates } from '@crtrail/store';
import { testRedis, testEs, cleanupPrefix, uniquePrefix } from '@crtrail/testkit';
import { keys } from '@crtrail/state';
import { processBatch } from '@crtrail/worker';
import { batchDeps } from '../test/helpers/batch-deps.js';
import { generateWorkload } from './workload.js';

const w = generateWorkload(Number(process.env.N || 300));
const prefix = uniquePrefix('state-size');
const es = testEs();
const redis = testRedis();
try {
  await installTemplates(es, prefix);
  const config = defaultConfig();
  const deps = batchDeps(es, redis, prefix, { config, salt: 's', refresh: false });
  for (const b of w.bodies) {
    const events = (JSON.parse(b.body).items as AuditEvent[]).filter((e) => classifyEvent(e).keep);
    await processBatch({ cluster: b.cluster, receivedAt: Date.now(), events }, deps);
  }
  let objects = 0;
  let versions = 0;
  let bytes = 0;
  let largest = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', keys(prefix).state('*'), 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const used = Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      const fields = await redis.hkeys(key);
      objects++;
      versions += fields.filter((f) => f.startsWith('v:')).length;
      bytes += used;
      largest = Math.max(largest, used);
    }
  } while (cursor !== '0');
  const perObject = bytes / objects;
  const perVersion = bytes / versions;
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
  process.stdout.write(
    [
      `state store after ${w.crWrites} custom-resource writes (${w.bodies.length} batches): ${objects} histories, ${versions} versions, ${mib(bytes)}`,
      `per tracked object: ${Math.round(perObject)} B (largest ${Math.round(largest)} B), ${(versions / objects).toFixed(1)} versions; per version: ${Math.round(perVersion)} B`,
      `100,000 custom resources: ~${mib(perObject * 100_000)} at this mix; with the full window of 8 versions each: ~${mib(perVersion * 8 * 100_000)}`,
    ].join('\n') + '\n',
  );
} finally {
  await cleanupPrefix(prefix, es, redis);
  await es.close();
  redis.disconnect();
}
