import { readFileSync } from 'node:fs';
import { isObject, type KubeObject } from '@crtrail/audit';
import { loadConfig, type Env } from '@crtrail/config';
import { defaultPlural } from '@crtrail/diff';
import { groupOfApiVersion, redactStoredObject } from '@crtrail/enrich';
import { createRedis, redisTargetFromEnv } from '@crtrail/queue';
import { importBaselineObjects, redactionSalt, RedisKindTable } from '@crtrail/state';
import { CliError } from '../errors.js';

/** Objects of a `kubectl get -o json` answer: a List, a single object, or a JSON array. */
function baselineObjects(text: string): KubeObject[] {
  const doc: unknown = JSON.parse(text);
  const items = Array.isArray(doc) ? doc : isObject(doc) && Array.isArray(doc.items) ? doc.items : [doc];
  return items.filter(isObject) as KubeObject[];
}

export interface BaselineInput {
  /** A JSON file, `-` for stdin. */
  file: string;
  cluster: string;
  /** Plural resources of kinds whose plural is not the default, by kind. */
  plurals: ReadonlyMap<string, string>;
}

/** `crtrail baseline`: the objects of `file` stored as the current state of `cluster`, redacted as their events would be. */
export async function importBaseline(env: Env, input: BaselineInput) {
  const text = readFileSync(input.file === '-' ? 0 : input.file, 'utf8');
  let objects: KubeObject[];
  try {
    objects = baselineObjects(text);
  } catch (err) {
    throw new CliError(`${input.file}: not JSON (${(err as Error).message}); use kubectl get ... -o json`);
  }
  const config = loadConfig(env.CRTRAIL_CONFIG);
  const resourceOf = (o: KubeObject): string =>
    input.plurals.get(String(o.kind)) ?? defaultPlural(String(o.kind ?? ''));
  const redis = createRedis(redisTargetFromEnv(env), { maxRetriesPerRequest: 1 });
  try {
    // The state store never holds a secret: objects are redacted as their audit events would be.
    const salt = await redactionSalt(redis, env.CRTRAIL_INDEX_PREFIX, env.CRTRAIL_REDACTION_SALT);
    const kinds = new RedisKindTable(redis, env.CRTRAIL_INDEX_PREFIX);
    await kinds.update(
      [],
      objects.map((o) => ({ group: groupOfApiVersion(o.apiVersion) ?? '', resource: resourceOf(o) })),
    );
    const redacted = objects.map((o) => redactStoredObject(o, resourceOf(o), config, salt, kinds));
    return await importBaselineObjects(redis, env.CRTRAIL_INDEX_PREFIX, input.cluster, redacted, resourceOf);
  } finally {
    redis.disconnect();
  }
}
