// The worker's batch processing called directly, without BullMQ, on real Redis and Elasticsearch:
// the bench workload's jobs, CONC (4) at a time, with the process's CPU time per change.
// Usage: node --import tsx bench/worker-direct.ts   (N=batches, CONC=concurrency)
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { classifyEvent } from '@crtrail/filter';
import { installTemplates } from '@crtrail/store';
import { testRedis, testEs, cleanupPrefix, uniquePrefix } from '@crtrail/testkit';
import { processBatch, createEnricher } from '@crtrail/worker';
import { batchDeps } from '../test/helpers/batch-deps.js';
import { generateWorkload } from './workload.js';
const w = generateWorkload(Number(process.env.N || 300));
const prefix = uniquePrefix('direct');
const es = testEs();
const redis = testRedis();
await installTemplates(es, prefix);
const config = defaultConfig();
const enrich = createEnricher(config);
const deps = batchDeps(es, redis, prefix, { config, enrich, salt: 's', refresh: false });
const texts = w.bodies.map((b) =>
  JSON.stringify({
    cluster: b.cluster,
    receivedAt: Date.now(),
    events: (JSON.parse(b.body).items as AuditEvent[]).filter((e) => classifyEvent(e).keep),
  }),
);
const t0 = performance.now();
const c0 = process.cpuUsage();
let next = 0;
await Promise.all(
  Array.from({ length: Number(process.env.CONC || 4) }, async () => {
    for (let i = next++; i < texts.length; i = next++) await processBatch(JSON.parse(texts[i]!), deps);
  }),
);
const s = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
process.stdout.write(
  `direct processBatch: ${Math.round(w.crWrites / s)} changes/s, CPU ${((cpu.user + cpu.system) / 1000 / w.crWrites).toFixed(3)} ms/change (user ${(cpu.user / 1000 / w.crWrites).toFixed(3)}, sys ${(cpu.system / 1000 / w.crWrites).toFixed(3)})\n`,
);
await cleanupPrefix(prefix, es, redis);
await es.close();
redis.disconnect();
