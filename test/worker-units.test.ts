import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '@crtrail/audit';
import { classifyEvent } from '@crtrail/filter';
import type { BatchJob } from '@crtrail/queue';
import { indexNames, installTemplates } from '@crtrail/store';
import { cleanupPrefix, testEs, testRedis, uniquePrefix } from '@crtrail/testkit';
import { processBatch, processJobs, type BatchDeps, type BatchResult } from '@crtrail/worker';
import { demoStory } from '../services/cli/src/demo-story.js';
import { batchDeps } from './helpers/batch-deps.js';

/**
 * A worker joins the small jobs it holds into one unit of work (one lock call, one history load, one
 * bulk request for all of them). A unit must give exactly the records the same jobs give one by one:
 * the same ids, changes, actors and places in each cluster's chain, and each job its own counts.
 */
describe('jobs joined into one unit give the records they give one by one', () => {
  const es = testEs();
  const redis = testRedis();
  const prefixes = [uniquePrefix('units-one'), uniquePrefix('units-joined')];
  after(async () => {
    for (const p of prefixes) await cleanupPrefix(p, es, redis);
    await es.close();
    redis.disconnect();
  });

  const depsFor = (prefix: string): BatchDeps => batchDeps(es, redis, prefix);

  // The demo story (creates, SSA, patches, a status update, deletes, a failed write…) for two
  // clusters, cut into jobs of 2 events interleaved by cluster, plus events the filter drops.
  const story = demoStory().filter((e) => classifyEvent(e).keep) as AuditEvent[];
  const dropped = { ...story[0]!, auditID: 'dropped-read', verb: 'get' } as AuditEvent;
  const jobs: BatchJob[] = [];
  for (let i = 0; i < story.length; i += 2)
    for (const cluster of ['unit-a', 'unit-b'])
      jobs.push({ cluster, receivedAt: 1_700_000_000_000 + i, events: [...story.slice(i, i + 2), dropped] });

  /** The parts of a stored record this test compares. */
  interface Stored {
    crtrail: { integrity: { seq: number }; change: Record<string, unknown>; actor: unknown };
    cluster?: { name?: string };
    orchestrator?: { cluster?: { name?: string } };
    event?: { created?: string };
  }
  async function recordsOf(prefix: string) {
    const res = await es.search<Stored>({
      index: indexNames(prefix).alias,
      size: 1000,
      // Each cluster has its own chain: seq alone ties across clusters, and ties come back in no set order.
      sort: [{ 'crtrail.integrity.seq': 'asc' }, { 'orchestrator.cluster.name': 'asc' }],
    });
    return res.hits.hits.map((h) => {
      const c = h._source!.crtrail;
      return {
        id: h._id,
        cluster: h._source!.cluster?.name ?? h._source!.orchestrator?.cluster?.name,
        seq: c.integrity.seq,
        change: { ...c.change, text: undefined },
        actor: c.actor,
        received: h._source!.event?.created,
      };
    });
  }

  test('same records, same chain, per-job counts', async () => {
    assert.ok(story.length >= 6, 'the demo story has enough writes to cut into several jobs');
    const [one, joined] = prefixes as [string, string];
    await installTemplates(es, one);
    await installTemplates(es, joined);
    const alone: BatchResult[] = [];
    for (const job of jobs) alone.push(await processBatch(structuredClone(job), depsFor(one)));
    const together = await processJobs(structuredClone(jobs), depsFor(joined));

    assert.deepEqual(together, alone, 'each job gets its own counts, as when processed alone');
    const created = together.reduce((n, r) => n + r.created, 0);
    assert.ok(created >= story.length, `records were created (${created})`);
    const a = await recordsOf(one);
    const b = await recordsOf(joined);
    assert.equal(b.length, a.length);
    assert.deepEqual(b, a);
    assert.deepEqual(
      new Set(a.map((r) => r.cluster)),
      new Set(['unit-a', 'unit-b']),
      'both clusters have records, each chain numbered on its own',
    );
  });

  test('a unit processed again is all duplicates, its chain unchanged', async () => {
    const joined = prefixes[1]!;
    const before = await recordsOf(joined);
    const again = await processJobs(structuredClone(jobs), depsFor(joined));
    assert.equal(
      again.reduce((n, r) => n + r.created, 0),
      0,
    );
    assert.deepEqual(
      again.map((r) => r.duplicates),
      again.map((r) => r.mutations),
      'every planned record of every job is counted as a duplicate of its own job',
    );
    assert.deepEqual(await recordsOf(joined), before);
  });
});
