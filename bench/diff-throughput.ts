// Measures the change engine alone and the worker end to end on a 10,000-change run.
// Usage: node --import tsx bench/diff-throughput.ts   (Redis + Elasticsearch running, e.g. via npm start)
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '@crtrail/audit';
import { planBatch } from '@crtrail/diff';
import { classifyEvent } from '@crtrail/filter';
import { uniquePrefix } from '@crtrail/testkit';
import { orderedEvents } from '../test/fixtures/lifecycle.js';
import { startPipeline } from '../test/helpers/pipeline.js';
import { eventList, LIFECYCLE_RECORDS } from '../test/helpers/events.js';

const CLUSTERS = Math.ceil(10_000 / LIFECYCLE_RECORDS);
const events = orderedEvents();

// 1. The pure engine: the worker's planBatch, one batch per cluster (histories start empty).
{
  let changes = 0;
  const t0 = performance.now();
  for (let c = 0; c < CLUSTERS; c++) {
    const kept = (events as AuditEvent[]).filter((e) => classifyEvent(e).keep);
    changes += planBatch(`c${c}`, kept, new Map()).records.length;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`engine only: ${changes} changes in ${s.toFixed(2)} s = ${Math.round(changes / s)} changes/s`);
}

// 2. Webhook → Redis → 1 worker → Elasticsearch.
{
  const p = await startPipeline(uniquePrefix('bench-diff'), { worker: { refresh: false } });
  try {
    const t0 = performance.now();
    for (let c = 0; c < CLUSTERS; c += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, CLUSTERS - c) }, (_, i) =>
          fetch(`${p.url}/audit/c${c + i}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: eventList(events),
          }),
        ),
      );
    }
    await p.idle(600_000);
    const s = (performance.now() - t0) / 1000;
    const n = await p.count();
    console.log(
      `pipeline (1 worker, default concurrency): ${n} changes indexed in ${s.toFixed(2)} s = ${Math.round(n / s)} changes/s`,
    );
  } finally {
    await p.close();
  }
}
