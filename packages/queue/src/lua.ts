import type { Redis } from 'ioredis';

export type LuaScript = (redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>) => Promise<unknown>;

/**
 * A Lua script run by its SHA (EVALSHA, loaded on first use or after a Redis restart by ioredis'
 * defineCommand) instead of sending its source with every EVAL: crtrail's scripts run several times
 * per batch, and EVAL makes Redis hash the source each time and the client write it each time.
 */
export function luaScript(name: string, lua: string): LuaScript {
  const command = `crtrail_${name}`;
  return (redis, keys, args) => {
    const methods = redis as unknown as Record<string, ((...a: Array<string | number>) => Promise<unknown>) | undefined>;
    if (typeof methods[command] !== 'function') redis.defineCommand(command, { lua });
    return methods[command]!.call(redis, keys.length, ...keys, ...args);
  };
}
