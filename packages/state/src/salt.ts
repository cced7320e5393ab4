import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@crtrail/queue';
import { keysFor } from './keys.js';

/**
 * The salt of redaction hashes: `CRTRAIL_REDACTION_SALT`, else one generated once per deployment and
 * kept in Redis (`<prefix>:redaction-salt`) so every webhook and worker — and every restart — hashes
 * alike. It never goes to Elasticsearch, the logs or the dead letters, where the hashes are.
 */
export async function redactionSalt(redis: RedisClient, prefix: string, fromEnv: string | undefined): Promise<string> {
  if (fromEnv) return fromEnv;
  const key = keysFor(redis, prefix).salt;
  // SET NX: whichever process comes first (webhook or worker) generates it, every other one reads
  // that same value. The worker checks it against the fingerprint kept in Elasticsearch, so a salt
  // regenerated after Redis lost its data is refused there, never used silently.
  await redis.set(key, randomBytes(32).toString('hex'), 'NX');
  const salt = await redis.get(key);
  if (!salt) throw new Error(`could not read ${key} from Redis`);
  return salt;
}

/** The salt kept in Redis, without generating one (null when Redis has none: new, flushed, or lost). */
export async function storedSalt(redis: RedisClient, prefix: string): Promise<string | null> {
  return redis.get(keysFor(redis, prefix).salt);
}
