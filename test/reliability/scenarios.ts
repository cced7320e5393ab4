import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTcpProxy, testEsUrl } from '@crtrail/testkit';
import { startEs429Proxy } from './es-429-proxy.js';
import { poison, unmappable, STRICTER_MAPPING, type Generated } from './generator.js';
import { runScenario, CLUSTER, type Row, type Scenario } from './harness.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI } from './processes.js';

/**
 * The fault scenarios. Each runs the product as an operator does (`crtrail up --webhook-only` and
 * `--worker-only`, or the all-in-one `crtrail up`), on a Redis of its own and the shared Elasticsearch
 * (through a proxy where the fault needs one), sends audit batches like an apiserver, injects its
 * fault, waits for the pipeline to drain, and counts. Sizes are modest: the machine is shared.
 */
export interface ScenarioDef {
  /** The row's name in the report. */
  name: string;
  /** Part of `npm test` (quick enough for CI). */
  fast: boolean;
  what: string;
  run(): Promise<Row>;
}

const ES_DOWN_SECONDS = Number(process.env.CRTRAIL_RELIABILITY_ES_DOWN_S || 45);
const MB = 1024 * 1024;

function batches(gen: { batch(n: number): Generated[] }, count: number, size: number): Generated[][] {
  return Array.from({ length: count }, () => gen.batch(size));
}

/** Webhook and worker as separate processes (the production layout), both ready. */
async function pipeline(s: Scenario, workerEnv: Record<string, string> = {}) {
  const worker = await s.start('worker', workerEnv);
  const webhook = await s.start('webhook');
  return { worker, webhook };
}

/**
 * Whether a crtrail log says that its Redis keeps nothing on disk: a JSON log line at warn level or
 * above, or a plain `crtrail:` start-up line, about persistence (nothing else talks about it).
 */
function warnsNoPersistence(log: string): boolean {
  return log.split('\n').some((line) => {
    if (!/persist|appendonly|\baof\b|on disk|durab/i.test(line)) return false;
    const m = /"level":(\d+)/.exec(line);
    return m ? Number(m[1]) >= 40 : !line.startsWith('---');
  });
}

export const scenarios: ScenarioDef[] = [
  {
    name: 'baseline',
    fast: true,
    what: 'no fault: 2,000 events in 20 batches, 2 in flight',
    run: () =>
      runScenario('baseline', {}, async (s) => {
        const { webhook } = await pipeline(s);
        await s.sendAll(webhook.url, batches(s.generator(), 20, 100), 2);
        await s.drain(120_000);
      }),
  },
  {
    name: 'worker kill -9 mid-job',
    fast: true,
    what: 'the worker is killed (SIGKILL) while a job is active, then started again',
    run: () =>
      runScenario('worker-kill9', {}, async (s) => {
        const { worker, webhook } = await pipeline(s);
        const sending = s.sendAll(webhook.url, batches(s.generator({ objectBytes: 4_000 }), 8, 300), 2);
        const job = await s.activeJob(60_000);
        await worker.signal('SIGKILL');
        await sleep(500);
        await worker.start();
        await sending;
        await s.drain(150_000);
        return { note: `job ${job} was active at the kill` };
      }),
  },
  {
    name: 'worker killed twice on the same job',
    fast: false,
    what: 'the worker is killed while a job is active, restarted, and killed again when that job is active again',
    run: () =>
      runScenario('worker-kill9-twice', {}, async (s) => {
        const { worker, webhook } = await pipeline(s, { CRTRAIL_WORKER_CONCURRENCY: '1' });
        await s.sendAll(webhook.url, batches(s.generator({ objectBytes: 6_000 }), 3, 400), 1);
        const job = await s.activeJob(60_000);
        await worker.signal('SIGKILL');
        const restarted = Date.now();
        await worker.start();
        // BullMQ hands a stalled job out again once its lock has expired (~30 s).
        await s.activeJob(120_000, job, restarted);
        await worker.signal('SIGKILL');
        await worker.start();
        await s.drain(180_000);
        return { note: `job ${job} was killed twice` };
      }),
  },
  {
    name: 'worker OOM on big batches',
    fast: false,
    what: '`crtrail up` with CRTRAIL_WORKER_HEAP_MB=128, 3 concurrent ~20 MB batches (400 events of ~25 KB objects)',
    run: () =>
      runScenario('worker-oom', {}, async (s) => {
        const up = await s.start('all', { CRTRAIL_WORKER_HEAP_MB: '128' });
        await s.sendAll(up.url, batches(s.generator({ objectBytes: 25_000, noise: 0 }), 3, 400), 3);
        await s.drain(240_000);
        const restarts = (up.log().match(/exited \(.*\); starting it again/g) ?? []).length;
        return { note: `worker restarted ${restarts}× by crtrail up` };
      }),
  },
  {
    name: 'SIGTERM worker',
    fast: false,
    what: 'the worker gets SIGTERM while jobs are active: it must finish them and exit 0; a new worker takes the rest',
    run: () =>
      runScenario('sigterm-worker', {}, async (s) => {
        const { worker, webhook } = await pipeline(s);
        const sending = s.sendAll(webhook.url, batches(s.generator({ objectBytes: 4_000 }), 8, 300), 2);
        await s.activeJob(60_000);
        const exit = await worker.signal('SIGTERM', 90_000);
        if (exit.code !== 0)
          s.problems.push(`worker exited with ${exit.signal ?? `code ${exit.code}`} after SIGTERM, not 0`);
        await worker.start();
        await sending;
        await s.drain(150_000);
      }),
  },
  {
    name: 'SIGTERM webhook with batches in flight',
    fast: false,
    what: 'the webhook gets SIGTERM while ~5 MB batches are being posted; it is started again on the same port',
    run: () =>
      runScenario('sigterm-webhook', {}, async (s) => {
        const { webhook } = await pipeline(s);
        const sending = s.sendAll(webhook.url, batches(s.generator({ objectBytes: 6_000 }), 8, 400), 4);
        await sleep(300);
        const termAt = Date.now();
        const exit = await webhook.signal('SIGTERM', 90_000);
        if (exit.code !== 0)
          s.problems.push(`webhook exited with ${exit.signal ?? `code ${exit.code}`} after SIGTERM, not 0`);
        await webhook.start();
        await sending;
        await s.drain(150_000);
        const fiveHundreds = s.outcomes
          .flatMap((o) => o.attempts)
          .filter((a) => a.status >= 500 && a.status !== 503).length;
        if (fiveHundreds) s.problems.push(`${fiveHundreds} answer(s) 5xx other than 503 around the shutdown`);
        const inFlight = s.outcomes.flatMap((o) => o.attempts).filter((a) => a.at < termAt && a.at + a.ms > termAt);
        if (inFlight.length === 0) s.problems.push('no batch was in flight at the SIGTERM (the row tested nothing)');
        return {
          note: `${inFlight.length} batch(es) in flight at the SIGTERM, answered ${inFlight.map((a) => a.status || a.error).join(', ')}`,
        };
      }),
  },
  ...[true, false].map<ScenarioDef>((aof) => ({
    name: aof ? 'Redis kill -9 with AOF' : 'Redis kill -9 without persistence',
    fast: false,
    what: `acked batches wait in Redis (worker not yet started) when redis-server is killed (SIGKILL) and restarted${aof ? ' (appendonly yes, everysec)' : ' (no AOF, no RDB): the loss is expected and must be reported at start'}`,
    run: () =>
      runScenario(aof ? 'redis-kill9-aof' : 'redis-kill9-noaof', { aof }, async (s) => {
        const webhook = await s.start('webhook');
        const gen = s.generator();
        await s.sendAll(webhook.url, batches(gen, 10, 100), 2);
        await s.redis.kill9();
        await sleep(1_000);
        await s.redis.start();
        // The webhook reconnects by itself; the apiserver-like sender retries what meets the gap.
        await s.sendAll(webhook.url, batches(gen, 5, 100), 2);
        await s.start('worker');
        await s.drain(150_000);
        if (aof) return {};
        const detected = warnsNoPersistence(s.logs());
        if (!detected)
          s.problems.push('no warning at start that this Redis keeps nothing on disk (the loss went unreported)');
        return {
          expected_loss: true,
          note: detected
            ? 'expected loss (Redis without persistence), detected: a warning at start'
            : 'expected loss (Redis without persistence), NOT detected',
        };
      }),
  })),
  {
    name: 'Redis down while acking',
    fast: true,
    what: 'redis-server is killed while batches arrive: the webhook must answer 503 + Retry-After (never 200, 500 or a hang), and take them once Redis is back',
    run: () =>
      runScenario('redis-down', {}, async (s) => {
        const { webhook } = await pipeline(s);
        const gen = s.generator();
        await s.sendAll(webhook.url, batches(gen, 4, 100), 2);
        await s.redis.kill9();
        const during = s.sendAll(webhook.url, batches(gen, 6, 100), 2);
        await sleep(4_000);
        await s.redis.start();
        await during;
        if (!webhook.alive()) {
          s.problems.push('the webhook died while Redis was down');
          await webhook.start();
        }
        await s.drain(120_000);
        // Every answer to the batches sent into the outage: a 200 (after Redis came back) or a fast
        // 503/429 with Retry-After. A 500, a 503 without Retry-After, or no answer at all is a defect.
        let bad = 0;
        let good = 0;
        for (const a of s.outcomes.slice(4).flatMap((o) => o.attempts)) {
          if (a.status === 200) continue;
          if ((a.status === 503 || a.status === 429) && a.retryAfter) good++;
          else bad++;
        }
        if (bad > 0) s.problems.push(`${bad} answer(s) while Redis was down were not 503/429 with Retry-After`);
        if (good === 0) s.problems.push('no 503 + Retry-After seen while Redis was down');
      }),
  },
  {
    name: 'Elasticsearch down for minutes',
    fast: false,
    what: `the worker's connection to Elasticsearch is cut (TCP proxy) for ${ES_DOWN_SECONDS} s while batches keep arriving, then restored`,
    run: async () => {
      const real = new URL(testEsUrl());
      const proxy = await startTcpProxy(real.hostname, Number(real.port || 9200));
      try {
        return await runScenario('es-down', { esUrl: proxy.url() }, async (s) => {
          const { worker, webhook } = await pipeline(s);
          const gen = s.generator();
          await s.sendAll(webhook.url, batches(gen, 3, 100), 1);
          proxy.down();
          const until = Date.now() + ES_DOWN_SECONDS * 1000;
          while (Date.now() < until) {
            await s.send(webhook.url, gen.batch(100));
            await sleep(2_000);
          }
          proxy.up();
          if (!worker.alive()) {
            s.problems.push('the worker died while Elasticsearch was down');
            await worker.start();
          }
          await s.drain(240_000);
          return { note: `Elasticsearch unreachable for ${ES_DOWN_SECONDS} s` };
        });
      } finally {
        await proxy.close();
      }
    },
  },
  {
    name: 'Elasticsearch 429 storm',
    fast: false,
    what: 'an HTTP proxy in front of Elasticsearch answers 429 (es_rejected_execution_exception) to half of the _bulk requests',
    run: async () => {
      const proxy = await startEs429Proxy(testEsUrl(), 0.5);
      try {
        return await runScenario('es-429', { esUrl: proxy.url }, async (s) => {
          const { webhook } = await pipeline(s);
          await s.sendAll(webhook.url, batches(s.generator(), 15, 100), 2);
          await s.drain(180_000);
          return { note: `${proxy.stats.rejected} of ${proxy.stats.bulk} _bulk requests answered 429` };
        });
      } finally {
        await proxy.close();
      }
    },
  },
  {
    name: 'mapping rejections',
    fast: false,
    what: 'every 10th custom-resource write has a field a stricter mapping refuses: those must be dead letters (`crtrail dlq list`), the rest stored',
    run: () =>
      runScenario('mapping', {}, async (s) => {
        const { webhook } = await pipeline(s);
        // The worker has created the changes index; an operator makes its mapping stricter.
        await s.es.indices.putMapping({ index: `${s.prefix}-changes*`, ...STRICTER_MAPPING });
        const gen = s.generator();
        let refused = 0;
        const list = batches(gen, 10, 100).map((b) =>
          b.map((g, i) => {
            if (!g.expected || i % 10 !== 3) return g;
            refused++;
            return { ...g, event: unmappable(g.event) };
          }),
        );
        await s.sendAll(webhook.url, list, 2);
        await s.drain(120_000);
        s.expect((row) =>
          row.dead_lettered === refused
            ? undefined
            : `${refused} records refused by the mapping, ${row.dead_lettered} in the dead letters`,
        );
        return { note: `${refused} refused by the mapping` };
      }),
  },
  {
    name: 'poison event',
    fast: true,
    what: 'one event per batch makes processing throw (the suite worker, poison-worker.ts, throws on a marked event): dead-lettered alone, its batch-mates stored',
    run: () =>
      runScenario('poison', {}, async (s) => {
        // The worker of poison-worker.ts: the product's, with an enricher that throws on the poison mark.
        await s.start('worker', {}, [], fileURLToPath(new URL('./poison-worker.ts', import.meta.url)));
        const webhook = await s.start('webhook');
        const gen = s.generator({ objects: 20 });
        // First every object exists (so the poison patch meets a known object), then the batches with one poison each.
        await s.send(
          webhook.url,
          gen.batch(20).filter((g) => g.expected),
        );
        const list = batches(gen, 5, 100).map((b) => {
          const at = b.findIndex((g) => g.expected && g.event.verb === 'update');
          return b.map((g, i) => (i === at ? { ...g, event: poison(g.event) } : g));
        });
        await s.sendAll(webhook.url, list, 1);
        await s.drain(120_000);
        const poisoned = list.length;
        s.expect((row) =>
          row.dead_lettered === poisoned
            ? undefined
            : `${poisoned} poison events sent, ${row.dead_lettered} dead-lettered`,
        );
        s.expect((row) =>
          row.stored === row.expected - poisoned
            ? undefined
            : `${row.expected - poisoned} batch-mates of the poison events, ${row.stored} stored`,
        );
      }),
  },
  {
    name: '3 concurrent 20 MB batches',
    fast: false,
    what: '`crtrail up` (default worker heap), 3 batches of 400 events of ~25 KB objects posted at once',
    run: () =>
      runScenario('big-batches', {}, async (s) => {
        const up = await s.start('all');
        await s.sendAll(up.url, batches(s.generator({ objectBytes: 25_000, noise: 0 }), 3, 400), 3);
        await s.drain(240_000);
        const restarts = (up.log().match(/exited \(.*\); starting it again/g) ?? []).length;
        const bytes =
          Math.round(
            (JSON.stringify(
              s
                .generator({ objectBytes: 25_000, noise: 0 })
                .batch(400)
                .map((g) => g.event),
            ).length /
              MB) *
              10,
          ) / 10;
        return { note: `${bytes} MB per batch; worker restarted ${restarts}×` };
      }),
  },
  {
    name: 'same files replayed 3×',
    fast: true,
    what: '`crtrail replay` of the same NDJSON file three times (the second and third at once): one record per event',
    run: () =>
      runScenario('replay-3x', {}, async (s) => {
        const { webhook } = await pipeline(s);
        const events = s.generator().batch(1_500);
        const file = join(s.tmp, 'audit.ndjson');
        writeFileSync(file, events.map((g) => JSON.stringify(g.event)).join('\n') + '\n');
        for (const g of events) if (g.expected) s.expectedIds.add(g.event.auditID as string);
        const replay = () =>
          runCli(['replay', file, '--cluster', CLUSTER, '--url', webhook.url, '--batch', '400'], s.env());
        const runs = [await replay(), ...(await Promise.all([replay(), replay()]))];
        const failed = runs.filter((r) => r.code !== 0);
        // `crtrail replay` exits 0 only when every batch was accepted (200).
        if (failed.length < runs.length)
          for (const g of events) if (g.expected) s.ackedIds.add(g.event.auditID as string);
        for (const r of failed)
          s.problems.push(`crtrail replay exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
        await s.drain(120_000);
        return { note: `${runs.length} replays, ${failed.length} with rejections` };
      }),
  },
];

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? 1, stdout, stderr });
    });
  });
}
