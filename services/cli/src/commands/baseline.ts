import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isObject, type KubeObject } from '@crtrail/audit';
import { loadConfig, loadEnv } from '@crtrail/config';
import { defaultPlural } from '@crtrail/diff';
import { groupOfApiVersion, redactStoredObject } from '@crtrail/enrich';
import { createRedis, redactionSalt, redisTargetFromEnv, RedisKindTable } from '@crtrail/queue';
import { importBaselineObjects } from '@crtrail/worker';

/** Objects of a `kubectl get -o json` answer: a List, a single object, or a JSON array. */
export function baselineObjects(text: string): KubeObject[] {
  const doc: unknown = JSON.parse(text);
  const items = Array.isArray(doc) ? doc : isObject(doc) && Array.isArray(doc.items) ? doc.items : [doc];
  return items.filter(isObject) as KubeObject[];
}

export function registerBaseline(program: Command): void {
  program
    .command('baseline')
    .description('import `kubectl get <kinds> -A -o json` output as the current state, so the first audited change has old values')
    .argument('<file>', 'JSON file, - for stdin')
    .requiredOption('--cluster <name>', 'cluster the objects are in')
    .option('--resource <Kind=plural...>', 'plural resource of a kind whose plural is not the default (e.g. Endpoints=endpoints)')
    .action(async (file: string, opts: { cluster: string; resource?: string[] }) => {
      const env = loadEnv();
      const plurals = new Map((opts.resource ?? []).map((r) => r.split('=', 2) as [string, string]));
      const text = readFileSync(file === '-' ? 0 : file, 'utf8');
      let objects: KubeObject[];
      try {
        objects = baselineObjects(text);
      } catch (err) {
        throw new Error(`${file}: not JSON (${(err as Error).message}); use kubectl get ... -o json`);
      }
      const config = loadConfig(env.CRTRAIL_CONFIG);
      const resourceOf = (o: KubeObject): string => plurals.get(String(o.kind)) ?? defaultPlural(String(o.kind ?? ''));
      const redis = createRedis(redisTargetFromEnv(env), { maxRetriesPerRequest: 1 });
      try {
        // The state store never holds a secret: objects are redacted as their audit events would be.
        const salt = await redactionSalt(redis, env.CRTRAIL_INDEX_PREFIX, env.CRTRAIL_REDACTION_SALT);
        const kinds = new RedisKindTable(redis, env.CRTRAIL_INDEX_PREFIX);
        await kinds.update([], objects.map((o) => ({ group: groupOfApiVersion(o.apiVersion) ?? '', resource: resourceOf(o) })));
        const redacted = objects.map((o) => redactStoredObject(o, resourceOf(o), config, salt, kinds));
        const r = await importBaselineObjects(redis, env.CRTRAIL_INDEX_PREFIX, opts.cluster, redacted, resourceOf);
        process.stdout.write(`imported ${r.imported} object(s) into cluster ${opts.cluster}, skipped ${r.skipped.length}\n`);
        for (const s of r.skipped) process.stderr.write(`skipped ${s.object}: ${s.reason}\n`);
        if (r.skipped.length > 0) process.exitCode = 1;
      } finally {
        redis.disconnect();
      }
    });
}
