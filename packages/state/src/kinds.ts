import type { RedisClient } from '@crtrail/queue';
import { keysFor } from './keys.js';
import { luaScript } from './lua.js';

/**
 * Adds each kind to its field's set (never replaces one): two processes learning at once both keep
 * their kind. Returns field, kinds pairs of the fields it touched.
 */
const addKinds = luaScript('add-kinds-1.lua');

/** Bound of the in-memory copy (a cluster has hundreds of resources; this only guards against floods). */
const MAX_CACHED = 50_000;

const fieldOf = (group: string, resource: string): string => `${group}/${resource}`;

/**
 * The kinds table (`<prefix>:kinds`, persistent: no TTL) shared by webhook and worker processes,
 * through Redis, with an in-memory copy in each: lookups are synchronous (redaction is), `update` is the one round trip per batch — it
 * writes what the batch taught that the copy lacks and reads the fields the copy misses.
 */
export class RedisKindTable {
  private readonly cache = new Map<string, readonly string[]>();
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = keysFor(redis, prefix).kinds;
  }

  kindsOf(group: string, resource: string): readonly string[] {
    return this.cache.get(fieldOf(group, resource)) ?? [];
  }

  async update(
    taught: ReadonlyArray<{ group: string; resource: string; kind: string }>,
    wanted: ReadonlyArray<{ group: string; resource: string }>,
  ): Promise<void> {
    const args: string[] = [];
    const queued = new Set<string>();
    for (const t of taught) {
      const field = fieldOf(t.group, t.resource);
      if (t.kind.includes(',') || this.cache.get(field)?.includes(t.kind) || queued.has(`${field}\n${t.kind}`))
        continue;
      queued.add(`${field}\n${t.kind}`);
      args.push(field, t.kind);
    }
    if (args.length > 0) {
      const pairs = (await addKinds(this.redis, [this.key], args)) as string[];
      for (let i = 0; i < pairs.length; i += 2) this.remember(pairs[i]!, pairs[i + 1]!);
    }
    const missing = [...new Set(wanted.map((w) => fieldOf(w.group, w.resource)))].filter((f) => !this.cache.has(f));
    if (missing.length === 0) return;
    const values = await this.redis.hmget(this.key, ...missing);
    missing.forEach((field, i) => {
      const v = values[i];
      if (v) this.remember(field, v);
    });
  }

  private remember(field: string, value: string): void {
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(field, value.split(',').filter(Boolean));
  }
}
