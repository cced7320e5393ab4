import type { Command } from 'commander';
import { loadEnv, type Env } from '@crtrail/config';
import { createBatchQueue, createRedis, describeRedis, redisTargetFromEnv } from '@crtrail/queue';
import { createEsClient, esConnectionFromEnv } from '@crtrail/store';
import { listDlqEntries, listFailedBatches, replayDeadLetters, replayFailedBatches } from '@crtrail/worker';

/** Failed batches are named `batch:<job id>` in `dlq list`, next to the dead letters' own ids. */
const BATCH = 'batch:';

/** Redis for the dead letters, or an error naming it and its variable (no ioredis retry noise). */
async function connect(env: Env) {
  const target = redisTargetFromEnv(env);
  const redis = createRedis(target, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null, connectTimeout: 5_000 });
  let cause: Error | undefined;
  redis.on('error', (err: Error) => {
    cause ??= err; // reported below, once
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis at ${describeRedis(target)} does not answer (CRTRAIL_REDIS_URL): ${(cause ?? (err as Error)).message}`);
  }
  const queue = createBatchQueue(env.CRTRAIL_INDEX_PREFIX, redis);
  queue.on('error', () => {});
  return { redis, queue, async close() { await queue.close(); redis.disconnect(); } };
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect and re-drive what could not be indexed: refused records, events that broke processing, failed batches');
  dlq
    .command('list')
    .description('list dead letters (id, when, cluster, status or type, reason) and failed batches (batch:<job>, first failure, cluster, events and attempts, reason)')
    .option('--json', 'one JSON entry per line (failed batches have type "batch")')
    .action(async (opts: { json?: boolean }) => {
      const env = loadEnv();
      const c = await connect(env);
      try {
        const letters = await listDlqEntries(c.redis, env.CRTRAIL_INDEX_PREFIX);
        const batches = await listFailedBatches(c.queue, c.redis, env.CRTRAIL_INDEX_PREFIX);
        for (const l of letters) {
          const what = l.type === 'event' ? 'event' : String(l.status);
          process.stdout.write(opts.json ? `${JSON.stringify(l)}\n` : `${l.id}\t${l.at}\t${l.cluster}\t${what}\t${l.reason}\n`);
        }
        for (const b of batches) {
          const line = `${BATCH}${b.id}\t${b.firstFailedAt}\t${b.cluster}\t${b.events} events, ${b.attempts} attempts\t${b.reason}\n`;
          process.stdout.write(opts.json ? `${JSON.stringify({ type: 'batch', ...b, id: `${BATCH}${b.id}` })}\n` : line);
        }
        process.stderr.write(`${letters.length} dead letter(s), ${batches.length} failed batch(es)\n`);
      } finally {
        await c.close();
      }
    });
  dlq
    .command('replay')
    .description('re-drive dead letters and failed batches (all, or --id) after fixing the cause')
    .option('--id <id>', 'only this entry (a record id, event:<cluster>:<auditID>, or batch:<job id>)')
    .action(async (opts: { id?: string }) => {
      const env = loadEnv();
      const c = await connect(env);
      const es = createEsClient(esConnectionFromEnv(env));
      try {
        const onlyBatch = opts.id?.startsWith(BATCH) ? opts.id.slice(BATCH.length) : undefined;
        const r = onlyBatch !== undefined ? { tried: 0, indexed: 0, duplicates: 0, requeued: 0, stillFailing: [] } : await replayDeadLetters(c.redis, es, env.CRTRAIL_INDEX_PREFIX, opts.id);
        const batches = opts.id === undefined || onlyBatch !== undefined ? await replayFailedBatches(c.queue, c.redis, env.CRTRAIL_INDEX_PREFIX, onlyBatch) : 0;
        process.stdout.write(
          `tried ${r.tried}, indexed ${r.indexed}, already present ${r.duplicates}, events re-enqueued ${r.requeued}, still failing ${r.stillFailing.length}; failed batches re-enqueued ${batches}\n`,
        );
        for (const f of r.stillFailing) process.stderr.write(`still failing: ${f.id}: ${f.reason}\n`);
        if (opts.id && r.tried === 0 && batches === 0) {
          process.stderr.write(`no dead letter or failed batch with id ${opts.id} (see crtrail dlq list)\n`);
          process.exitCode = 1;
        }
        if (r.stillFailing.length > 0) process.exitCode = 1;
      } finally {
        await c.close();
        await es.close();
      }
    });
}
