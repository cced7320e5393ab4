/**
 * How big a job should be (JOB_BOUNDS in packages/queue/src/split.ts): measures, for batches the
 * apiserver can send, (1) what measuring each kept event costs the ack (one JSON.stringify each),
 * (2) the heap a worker holds for a parsed job of a given size, and (3) what writing a batch as jobs
 * of various bounds in one MULTI costs, on the Redis at CRTRAIL_REDIS_URL (own prefix, removed after).
 *
 *   node --expose-gc --import tsx bench/job-bounds.ts
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { AuditEvent } from '@crtrail/audit';
import { addJobsAtomically, createBatchQueue, JOB_NAME, splitEvents, type BatchJob } from '@crtrail/queue';
import { deleteRedisPrefix, uniquePrefix } from '@crtrail/testkit';

const REDIS_URL = process.env.CRTRAIL_REDIS_URL || 'redis://127.0.0.1:6379';
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function event(i: number, blobBytes: number): AuditEvent {
  return {
    level: 'RequestResponse',
    auditID: `a-${i}`,
    stage: 'ResponseComplete',
    verb: 'patch',
    requestURI: `/apis/example.com/v1/namespaces/ns/widgets/w-${i}`,
    user: { username: 'alice', groups: ['system:authenticated'] },
    objectRef: { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'ns', name: `w-${i}` },
    responseStatus: { code: 200 },
    requestReceivedTimestamp: '2026-01-01T00:00:00.000000Z',
    stageTimestamp: '2026-01-01T00:00:00.001000Z',
    requestObject: { spec: { blob: 'x'.repeat(blobBytes) } },
    responseObject: {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: `w-${i}`, resourceVersion: String(i) },
      spec: { blob: 'y'.repeat(blobBytes), n: i },
    },
  };
}

const batches = {
  'typical 400 × ~1.2 KB': Array.from({ length: 400 }, (_, i) => event(i, 300)),
  '10 MB: 400 × ~25 KB': Array.from({ length: 400 }, (_, i) => event(i, 12_400)),
  '20 MB: 400 × ~50 KB': Array.from({ length: 400 }, (_, i) => event(i, 24_900)),
  '21 MB: 60,000 small': Array.from({ length: 60_000 }, (_, i) => ({
    ...event(i, 0),
    requestObject: undefined,
    responseObject: undefined,
  })),
};

const out: string[] = [];
const say = (s: string) => {
  out.push(s);
  process.stdout.write(s + '\n');
};

say('## measuring (one JSON.stringify per kept event)');
for (const [name, events] of Object.entries(batches)) {
  const runs: number[] = [];
  let total = 0;
  for (let r = 0; r < 7; r++) {
    const t = performance.now();
    total = splitEvents(events).reduce((n, c) => n + c.bytes, 0);
    runs.push(performance.now() - t);
  }
  say(`${name}: ${(total / 1e6).toFixed(1)} MB, split in ${median(runs).toFixed(1)} ms (median of 7)`);
}

say('\n## heap held by one parsed job (JSON.parse of the job data), per MB of JSON');
for (const mb of [0.5, 2, 8, 20]) {
  const n = Math.max(1, Math.round((mb * 1e6) / 25_000));
  const json = JSON.stringify({
    cluster: 'c',
    receivedAt: 0,
    events: Array.from({ length: n }, (_, i) => event(i, 12_400)),
  });
  gc();
  const before = process.memoryUsage().heapUsed;
  const parsed = JSON.parse(json) as BatchJob;
  gc();
  const after = process.memoryUsage().heapUsed;
  say(
    `${(json.length / 1e6).toFixed(1)} MB job: +${((after - before) / 1e6).toFixed(1)} MB heap parsed (${((after - before) / json.length).toFixed(2)}×), + the ${(json.length / 1e6).toFixed(1)} MB string while it is read (${parsed.events.length} events)`,
  );
}

say('\n## writing a batch in one MULTI (split included), by bound');
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const prefix = uniquePrefix('bench-jobs');
const queue = createBatchQueue(prefix, redis);
try {
  for (const [name, events] of Object.entries(batches)) {
    for (const maxBytes of [Infinity, 8 * 2 ** 20, 2 * 2 ** 20, 512 * 2 ** 10]) {
      const bounds = { maxEvents: Number.isFinite(maxBytes) ? 500 : Infinity, maxBytes };
      const runs: number[] = [];
      let jobs = 0;
      for (let r = 0; r < 5; r++) {
        const t = performance.now();
        const chunks = splitEvents(events, bounds);
        jobs = chunks.length;
        await addJobsAtomically(
          queue,
          JOB_NAME,
          chunks.map((c) => ({ cluster: 'c', receivedAt: 0, events: c.events })),
        );
        runs.push(performance.now() - t);
        await queue.obliterate({ force: true });
      }
      say(
        `${name}, ≤ ${Number.isFinite(maxBytes) ? `${maxBytes / 2 ** 20} MiB / 500 events` : 'unbounded'}: ${jobs} jobs, split + MULTI ${median(runs).toFixed(0)} ms (median of 5)`,
      );
    }
  }
} finally {
  await queue.close();
  await deleteRedisPrefix(redis, prefix);
  redis.disconnect();
}
