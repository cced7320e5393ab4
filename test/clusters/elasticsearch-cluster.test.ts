import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startElasticsearchCluster } from '@crtrail/stack';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertChainIntact, assertExact, batchesOf, EsClusterScenario, SKIP_CLUSTERS } from './scenario.js';

/**
 * crtrail on a 3-node Elasticsearch cluster (CRTRAIL_ES_URL lists the three nodes): two webhook and
 * two worker processes, and the node holding the primary of the records index SIGKILLed while the
 * workers index. The template's auto_expand_replicas ("0-1") gives the index a replica on another
 * node, which is promoted; the client retries on the living nodes: the records stay exact.
 */
describe('Elasticsearch cluster: a node killed mid-run', { skip: SKIP_CLUSTERS, concurrency: 1 }, () => {
  test('two webhooks and two workers; the primary’s node killed; records exact', async () => {
    const cluster = await startElasticsearchCluster({ nodes: 3 });
    const s = new EsClusterScenario('es-cluster-node-kill', cluster.url);
    try {
      await s.setup();
      const workers = [await s.start('worker'), await s.start('worker')];
      const webhooks = [await s.start('webhook'), await s.start('webhook')];
      let turn = 0;
      const nextWebhook = (): string => webhooks[turn++ % webhooks.length]!.url;
      const gen = s.generator({ objects: 40 });

      await s.sendAll(nextWebhook, batchesOf(gen, 10, 40), 4);
      // The record index has its replica (auto_expand_replicas 0-1 on three nodes) before anything is killed.
      await cluster.waitHealth('green', 3, 120_000);
      const shards = (await s.es.cat.shards({
        index: `${s.prefix}-changes*`,
        format: 'json',
        h: 'index,prirep,state,node',
      })) as unknown as Array<{ prirep: string; state: string; node: string }>;
      assert.equal(
        shards.filter((x) => x.state === 'STARTED').length,
        2,
        `one primary and one replica: ${JSON.stringify(shards)}`,
      );
      const primaryNode = shards.find((x) => x.prirep === 'p')!.node;
      const victim = cluster.nodes.find((n) => n.name === primaryNode)!;

      const inFlight = s.sendAll(nextWebhook, batchesOf(gen, 20, 40), 4);
      await sleep(500);
      await cluster.kill(victim);
      await inFlight;
      await s.sendAll(nextWebhook, batchesOf(gen, 10, 40), 4);

      assert.ok(await s.drain(240_000), `the queue drained with a node down: ${s.notes.join('; ')}`);
      assert.ok(
        workers.every((w) => w.alive()) && webhooks.every((w) => w.alive()),
        'no crtrail process died of the node loss',
      );
      await cluster.waitHealth('yellow', 2, 120_000);
      const row = await s.count({ note: `${victim.name} (primary of the records index) killed` });
      assertExact(row);
      await assertChainIntact(s, row.stored);
    } finally {
      await s.teardown();
      await cluster.stop();
    }
  });
});
