import type { RedisClient } from '@crtrail/queue';
import { objectKeyString, type KubeObject, type ObjectKey } from '@crtrail/audit';
import { importBaseline } from '@crtrail/diff';
import { HistoryCache, loadHistories, saveHistories } from './history-store.js';
import { keysFor } from './keys.js';
import { withLocks } from './object-locks.js';

export interface BaselineResult {
  imported: number;
  skipped: Array<{ object: string; reason: string }>;
}

/**
 * `crtrail baseline`: stores the current state of objects (a `kubectl get <kinds> -A -o json` List)
 * as the known previous state, under the same locks as the worker.
 */
export async function importBaselineObjects(
  redis: RedisClient,
  prefix: string,
  cluster: string,
  objects: KubeObject[],
  resourceOf: (object: KubeObject) => string,
): Promise<BaselineResult> {
  const result: BaselineResult = { imported: 0, skipped: [] };
  const cache = new HistoryCache();
  const k = keysFor(redis, prefix);
  const at = new Date().toISOString();
  for (const object of objects) {
    const label = `${object.kind ?? '?'} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name ?? '?'}`;
    const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
    const key: ObjectKey = {
      cluster,
      group: apiVersion.includes('/') ? apiVersion.split('/')[0]! : '',
      resource: resourceOf(object),
      namespace: object.metadata?.namespace ?? '',
      name: object.metadata?.name ?? '',
    };
    const keyString = objectKeyString(key);
    try {
      await withLocks(redis, [k.lock(keyString)], async () => {
        const stateKey = k.state(keyString);
        // One loaded history per key asked for.
        const before = (await loadHistories(redis, [stateKey], cache))[0]!;
        const next = importBaseline(before.history, object, at);
        await saveHistories(redis, [{ key: stateKey, before, after: next }], cache);
      });
      result.imported++;
    } catch (err) {
      result.skipped.push({ object: label, reason: (err as Error).message });
    }
  }
  return result;
}
