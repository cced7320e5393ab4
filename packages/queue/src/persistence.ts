import type { Redis } from 'ioredis';
import type { RedisClient } from './connection.js';
import { clusterReady, masters } from './nodes.js';

export interface RedisPersistence {
  /** Append-only file on (`appendonly yes`). */
  aof: boolean;
  /** RDB snapshots scheduled (`save` not empty). */
  rdb: boolean;
  /** Anything at all survives a restart of that Redis. */
  persistent: boolean;
  /** What was read, as a person would say it: `appendonly yes (appendfsync everysec), save ''`. */
  how: string;
  /** Set when the settings could not be read at all (neither CONFIG nor INFO answered). */
  unknown?: boolean;
}

function isUnknownCommand(err: unknown): boolean {
  return /unknown command|ERR unknown|NOPERM|not allowed|permission/i.test((err as Error)?.message ?? '');
}

async function configGet(redis: Redis, key: string): Promise<string> {
  const r = (await redis.call('CONFIG', 'GET', key)) as string[];
  return r[1] ?? '';
}

/** Reads `INFO persistence` (also served when CONFIG is renamed or disabled, as managed Redis often does). */
async function fromInfo(redis: Redis): Promise<RedisPersistence> {
  const info = (await redis.call('INFO', 'persistence')) as string;
  const field = (k: string): string | undefined => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const aof = field('aof_enabled') === '1';
  // INFO does not show the RDB save schedule, only snapshots taken since start (rdb_saves, Redis ≥ 7):
  // an RDB-only Redis that has not snapshotted yet reads as not persistent — a warning too many,
  // never one too few.
  const saves = Number(field('rdb_saves') ?? '0');
  const rdb = saves > 0;
  return {
    aof,
    rdb,
    persistent: aof || rdb,
    how: `aof_enabled:${aof ? 1 : 0}, rdb_saves:${saves} (from INFO persistence; CONFIG is not available, the RDB schedule is not visible)`,
  };
}

/**
 * What the Redis in use keeps on disk: `CONFIG GET appendonly` / `save` / `appendfsync`, falling back
 * to `INFO persistence` when CONFIG is disabled or renamed. A Redis that keeps nothing loses, on a
 * restart, every batch acked but not yet indexed — the ack's promise rests on this. On a Redis
 * Cluster every master is asked and the first one that is not persistent is reported (any master
 * may own a deployment's slot after a resharding or failover).
 */
export async function redisPersistence(redis: RedisClient): Promise<RedisPersistence> {
  await clusterReady(redis);
  const nodes = masters(redis);
  if (nodes.length === 1) return nodePersistence(nodes[0]!);
  const all = await Promise.all(
    nodes.map(async (n) => ({ at: `${n.options.host}:${n.options.port}`, p: await nodePersistence(n) })),
  );
  const weak = all.find((x) => !x.p.persistent) ?? all[0];
  if (!weak)
    return {
      aof: false,
      rdb: false,
      persistent: false,
      unknown: true,
      how: 'unknown (no Redis Cluster master connected)',
    };
  return {
    ...weak.p,
    how: `master ${weak.at}: ${weak.p.how}${all.length > 1 ? ` (${all.filter((x) => x.p.persistent).length} of ${all.length} masters persistent)` : ''}`,
  };
}

async function nodePersistence(redis: Redis): Promise<RedisPersistence> {
  try {
    const appendonly = await configGet(redis, 'appendonly');
    const save = await configGet(redis, 'save');
    const fsync = appendonly === 'yes' ? await configGet(redis, 'appendfsync') : '';
    const aof = appendonly === 'yes';
    const rdb = save.trim() !== '';
    return {
      aof,
      rdb,
      persistent: aof || rdb,
      how: `appendonly ${appendonly || 'no'}${fsync ? ` (appendfsync ${fsync})` : ''}, save '${save}'`,
    };
  } catch (err) {
    if (!isUnknownCommand(err)) throw err;
  }
  try {
    return await fromInfo(redis);
  } catch (err) {
    if (!isUnknownCommand(err)) throw err;
    return {
      aof: false,
      rdb: false,
      persistent: false,
      unknown: true,
      how: 'unknown (neither CONFIG GET nor INFO persistence is allowed)',
    };
  }
}

/** The loud line logged (and shown by /readyz) when the Redis at `url` keeps nothing on disk. */
export function persistenceWarning(url: string, p: RedisPersistence): string | undefined {
  if (p.persistent) return undefined;
  const where = redactUrl(url);
  if (p.unknown) {
    return `Redis at ${where}: its persistence settings could not be read (${p.how}); unless it runs with appendonly yes, a restart of it loses every acked batch not yet indexed, object histories and dead letters`;
  }
  return `Redis at ${where} keeps nothing on disk (${p.how}): a restart of it loses every acked batch not yet indexed, object histories and dead letters; enable appendonly yes`;
}

/** The URL without its password (it goes to logs and to /readyz). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
