import type { Command } from 'commander';
import { loadEnv } from '@crtrail/config';
import { createRedis } from '@crtrail/queue';
import { createEsClient, esConnectionFromEnv } from '@crtrail/store';
import { listDeadLetters, replayDeadLetters } from '@crtrail/worker';

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect and re-drive records Elasticsearch refused');
  dlq
    .command('list')
    .description('list dead letters: id, when, cluster, status, reason')
    .option('--json', 'one JSON entry per line')
    .action(async (opts: { json?: boolean }) => {
      const env = loadEnv();
      const redis = createRedis(env.CRTRAIL_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        const letters = await listDeadLetters(redis, env.CRTRAIL_INDEX_PREFIX);
        for (const l of letters) {
          process.stdout.write(opts.json ? `${JSON.stringify(l)}\n` : `${l.id}\t${l.at}\t${l.cluster}\t${l.status}\t${l.reason}\n`);
        }
        process.stderr.write(`${letters.length} dead letter(s)\n`);
      } finally {
        redis.disconnect();
      }
    });
  dlq
    .command('replay')
    .description('re-drive dead letters (all, or --id) after fixing the cause')
    .option('--id <id>', 'only this record id')
    .action(async (opts: { id?: string }) => {
      const env = loadEnv();
      const redis = createRedis(env.CRTRAIL_REDIS_URL, { maxRetriesPerRequest: 1 });
      const es = createEsClient(esConnectionFromEnv(env));
      try {
        const r = await replayDeadLetters(redis, es, env.CRTRAIL_INDEX_PREFIX, opts.id);
        process.stdout.write(`tried ${r.tried}, indexed ${r.indexed}, already present ${r.duplicates}, still failing ${r.stillFailing.length}\n`);
        for (const f of r.stillFailing) process.stderr.write(`still failing: ${f.id}: ${f.reason}\n`);
        if (opts.id && r.tried === 0) {
          process.stderr.write(`no dead letter with id ${opts.id}\n`);
          process.exitCode = 1;
        }
        if (r.stillFailing.length > 0) process.exitCode = 1;
      } finally {
        redis.disconnect();
        await es.close();
      }
    });
}
