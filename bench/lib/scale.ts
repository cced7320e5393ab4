/** `npm run bench:scale`: the pipeline with 1–3 worker processes, and what one worker core sustains. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import type { Workload } from '../workload.js';
import { runPerCore } from './per-core.js';
import { runPipeline } from './pipeline.js';
import type { Sender } from './senders.js';
import { outDir, say } from './setup.js';
import { provenance, type Machine } from './report.js';
import { round } from './stats.js';

export async function runScale(
  es: Client,
  workload: Workload,
  send: Sender,
  /** Runs before each measured pipeline (see runPipeline's `warmUp`). */
  warmUp: (url: string) => Promise<number>,
  cleanup: (prefix: string) => Promise<void>,
  meta: { machine: Machine; git: { commit: string }; workload: Record<string, number> },
): Promise<string> {
  const rows = [];
  for (const workers of [1, 2, 3]) {
    const prefix = `bench-scale-${workers}-${Date.now().toString(36)}`;
    say(`pipeline with ${workers} worker process(es)…`);
    const r = await runPipeline(es, prefix, workers, send, workload.crWrites, warmUp);
    rows.push({
      workers,
      changes_per_s: round(r.changesPerS),
      lag_p99_ms: round(r.lagP99),
      webhook_events_per_s: round(r.sent.acked / r.sent.seconds),
      rss_mb_worker: r.rss.worker,
      cpu_ms_per_change: r.cpuPerChange,
    });
    await cleanup(prefix);
  }
  const corePrefix = `bench-core-${Date.now().toString(36)}`;
  let perCore;
  try {
    perCore = await runPerCore(es, corePrefix, send, workload.crWrites, warmUp);
  } finally {
    await cleanup(corePrefix);
  }
  const json = { scale: rows, per_worker_core: perCore, ...meta, at: new Date().toISOString() };
  writeFileSync(join(outDir, 'latest-scale.json'), JSON.stringify(json, null, 2) + '\n');
  const cpuCell = (c: Record<string, number>) => `${c.worker} / ${c.elasticsearch} / ${c.webhook}`;
  const md = [
    '# crtrail bench:scale',
    '',
    provenance(json.at, meta.git.commit, meta.machine),
    '',
    `## One worker core (${perCore.pinned ? 'pinned' : '**not pinned**'})`,
    '',
    `The queue filled first with a warm-up of ${meta.workload.warmup_batches} batches (to other clusters) and then the workload (${workload.bodies.length} batches), then one worker process drains it: ${perCore.note}. The window starts once the worker has taken the warm-up's jobs (${perCore.changes} changes indexed in it, a few of the warm-up's among them).`,
    '',
    '| figure | measured |',
    '|---|---|',
    `| changes/s | ${perCore.changes_per_s} |`,
    `| worker CPU ms per change | ${perCore.worker_cpu_ms_per_change} |`,
    `| **changes per worker CPU-second** (what one worker core sustains) | **${perCore.changes_per_worker_cpu_s}** |`,
    `| worker core busy (CPU s / wall s; below ~0.9 it waited on Elasticsearch or Redis) | ${perCore.worker_core_busy} |`,
    `| Elasticsearch / Redis CPU ms per change | ${perCore.es_cpu_ms_per_change} / ${perCore.redis_cpu_ms_per_change} |`,
    `| worker peak RSS MB | ${perCore.rss_mb_worker} |`,
    '',
    '## 1–3 worker processes, unpinned, whole pipeline at saturation',
    '',
    `Each pipeline warmed first with ${meta.workload.warmup_batches} of the same batches to other clusters, left out of the figures.`,
    '',
    '| workers | changes/s | lag p99 ms | webhook events/s | worker RSS MB | CPU ms/change: workers / Elasticsearch / webhook |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.workers} | ${r.changes_per_s} | ${r.lag_p99_ms} | ${r.webhook_events_per_s} | ${r.rss_mb_worker} | ${cpuCell(r.cpu_ms_per_change)} |`,
    ),
    '',
  ];
  writeFileSync(join(outDir, 'latest-scale.md'), md.join('\n'));
  return md.join('\n');
}
