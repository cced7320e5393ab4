import { readFileSync } from 'node:fs';
import type { RedisClient } from '@crtrail/queue';

export type LuaScript = (
  redis: RedisClient,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
) => Promise<unknown>;

/** The scripts' folder, beside `src/` and `dist/` alike, so the same URL works from either. */
const LUA_DIR = new URL('../lua/', import.meta.url);

/**
 * A script of `lua/<name>-<numkeys>.lua` (BullMQ's naming; `n` for a script over any number of keys),
 * run by its SHA (EVALSHA, loaded on first use or after a Redis restart by ioredis' defineCommand)
 * instead of sending its source with every EVAL: crtrail's scripts run several times per batch, and
 * EVAL makes Redis hash the source each time and the client write it each time. Read once, when the
 * module defining it loads; a call with another number of keys than the file name says throws.
 */
export function luaScript(file: string): LuaScript {
  const parsed = /^([a-z]+(?:-[a-z]+)*)-(\d+|n)\.lua$/.exec(file);
  if (!parsed) throw new Error(`Lua script ${file}: expected <name>-<numkeys>.lua`);
  const numKeys = parsed[2] === 'n' ? undefined : Number(parsed[2]);
  const lua = readFileSync(new URL(file, LUA_DIR), 'utf8');
  const command = `crtrail_${parsed[1]!.replaceAll('-', '_')}`;
  return (redis, keys, args) => {
    if (numKeys !== undefined && keys.length !== numKeys)
      throw new Error(`${file} takes ${numKeys} keys, got ${keys.length}`);
    const methods = redis as unknown as Record<
      string,
      ((...a: Array<string | number>) => Promise<unknown>) | undefined
    >;
    if (typeof methods[command] !== 'function') redis.defineCommand(command, { lua });
    return methods[command]!.call(redis, keys.length, ...keys, ...args);
  };
}
