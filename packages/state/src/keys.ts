/**
 * Every Redis key crtrail writes, in one place. All of them start with `<prefix>:` (the index prefix,
 * `CRTRAIL_INDEX_PREFIX`), so one prefix is one deployment and `<prefix>:*` is all of its state.
 *
 * BullMQ keeps its own keys beside these, under its default prefix `bull`: `bull:<prefix>-batches:*`
 * (the acked batches not yet indexed, and the failed set) and `bull:<prefix>-alerts:*` (alert jobs and
 * their dead letters). Both must persist: the webhook's ack promises the batch is kept.
 *
 * The formats are stored data: changing one orphans what an older crtrail wrote (histories, chain
 * heads, dead letters), so they change only together with a migration.
 *
 * In Redis Cluster mode (`{ redisCluster: true }`, see {@link keysFor}) `<prefix>` is written as the
 * hash tag `{<prefix>}` in every key, and the queues are `{<prefix>}-batches` / `{<prefix>}-alerts`:
 * the whole deployment is one slot, so every Lua script and MULTI (a batch's locks and histories, the
 * chain head with its pending links, an alert's marker, window and list, BullMQ's own scripts) stays
 * in one slot. Single-node and Sentinel keys are unchanged (a Redis Cluster is a new deployment:
 * nothing to migrate).
 */
import { deploymentTag, isRedisCluster, type RedisClient } from '@crtrail/queue';

/** Whether losing a key (a Redis restart without persistence, a flush) loses something. */
export interface KeyPersistence {
  /** true: it must survive a Redis restart (keep `appendonly yes`); false: losing it is harmless. */
  persist: boolean;
  /** What it holds and what its loss costs. */
  why: string;
}

/** The key builders of one prefix; see {@link KEY_PERSISTENCE} for what each holds. */
export interface StateKeys {
  /** One object's history (a hash; `object` is `objectKeyString(key)`: cluster/group/resource/namespace/name). */
  state(object: string): string;
  /** The lease on one object's history while a batch applies its events (same `object` as {@link state}). */
  lock(object: string): string;
  /** The head of a cluster's hash chain: a hash with `seq` and `hash`. */
  chainHead(cluster: string): string;
  /** Links handed out but not yet confirmed in Elasticsearch: record id → integrity JSON. */
  chainPending(cluster: string): string;
  /** The dead-letter list: records Elasticsearch refused for good and events whose processing threw. */
  readonly dlq: string;
  /** The resource → kind table: field `group/resource`, value the kinds seen (comma-separated). */
  readonly kinds: string;
  /** The generated redaction salt (when `CRTRAIL_REDACTION_SALT` is not set). */
  readonly salt: string;
  /** Job id → time of the batch's first failure (BullMQ keeps only the last one). */
  readonly firstFailure: string;
  /** A record's alert was delivered to `sink`: never again (SET with a TTL). */
  alertSent(sink: string, recordId: string): string;
  /** The group window open for one object and sink (SET NX PX; its value names the record that opened it). */
  alertWindow(sink: string, group: string): string;
  /** Alerts waiting for their object's window to close (a list). */
  alertGroup(sink: string, group: string): string;
  /** A closing window's alerts, moved aside once so a retried flush finds them (a list). */
  alertFlushing(sink: string, group: string, window: string): string;
}

/** What each key of {@link StateKeys} holds and whether it must persist. */
export const KEY_PERSISTENCE: Readonly<Record<keyof StateKeys, KeyPersistence>> = Object.freeze({
  state: {
    persist: true,
    why: 'object histories; lost, an object continues from its newest state in Elasticsearch and late events can no longer repair the records before it',
  },
  lock: { persist: false, why: 'a lease with a TTL; lost, it is simply taken again' },
  chainHead: {
    persist: true,
    why: 'where each chain ends; lost, it is recovered from the newest chained record in Elasticsearch',
  },
  chainPending: {
    persist: true,
    why: 'links of records sealed but not confirmed written; lost, a retried job re-seals them and their first links become a gap',
  },
  dlq: { persist: true, why: 'the only copy of refused records and poison events' },
  kinds: {
    persist: true,
    why: 'learned resource → kind pairs; lost, a Status answer (delete) names no kind until the kind is seen again',
  },
  salt: {
    persist: true,
    why: 'the generated redaction salt; lost, the worker refuses to start (its fingerprint is in Elasticsearch) until CRTRAIL_REDACTION_SALT gives it back',
  },
  firstFailure: { persist: false, why: "shown by `dlq list`; lost, the job's own timestamp is shown instead" },
  alertSent: { persist: true, why: 'alert dedup markers; lost, a replay or re-drive alerts again' },
  alertWindow: { persist: false, why: 'an open group window; lost, the next alert opens a new one (one message more)' },
  alertGroup: { persist: true, why: 'alerts waiting for their window to close; lost, they are never sent' },
  alertFlushing: { persist: true, why: 'alerts of a window being flushed; lost, a retried flush sends nothing' },
});

export interface KeyOptions {
  /** Redis Cluster mode: the prefix becomes the hash tag `{<prefix>}` (one slot per deployment). */
  redisCluster?: boolean;
}

/** The Redis keys of a prefix (a deployment). Every key crtrail writes is built here. */
export function keys(name: string, options: KeyOptions = {}): StateKeys {
  const prefix = deploymentTag(name, options.redisCluster ?? false);
  return {
    state: (object) => `${prefix}:state:${object}`,
    lock: (object) => `${prefix}:lock:${object}`,
    chainHead: (cluster) => `${prefix}:chain:${cluster}`,
    chainPending: (cluster) => `${prefix}:chain:${cluster}:pending`,
    dlq: `${prefix}:dlq`,
    kinds: `${prefix}:kinds`,
    salt: `${prefix}:redaction-salt`,
    firstFailure: `${prefix}:first-failure`,
    alertSent: (sink, recordId) => `${prefix}:alerts:sent:${sink}:${recordId}`,
    alertWindow: (sink, group) => `${prefix}:alerts:window:${sink}:${group}`,
    alertGroup: (sink, group) => `${prefix}:alerts:group:${sink}:${group}`,
    alertFlushing: (sink, group, window) => `${prefix}:alerts:flushing:${sink}:${group}:${window}`,
  };
}

/** The keys of `prefix` as stored on `redis`: hash-tagged when it is a Redis Cluster connection. */
export function keysFor(redis: RedisClient, prefix: string): StateKeys {
  return keys(prefix, { redisCluster: isRedisCluster(redis) });
}
