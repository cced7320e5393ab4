import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/**
 * The salt of redaction hashes: `CRTRAIL_REDACTION_SALT`, else one generated once per deployment and
 * kept in Redis (`<prefix>:redaction-salt`) so every webhook and worker — and every restart — hashes
 * alike. It never goes to Elasticsearch, the logs or the dead letters, where the hashes are.
 */
export async function redactionSalt(redis: Redis, prefix: string, fromEnv: string | undefined): Promise<string> {
  if (fromEnv) return fromEnv;
  const key = keys(prefix).salt;
  // SET NX: whichever process comes first (webhook or worker) generates it, every other one reads
  // that same value. The worker checks it against the fingerprint kept in Elasticsearch, so a salt
  // regenerated after Redis lost its data is refused there, never used silently.
  await redis.set(key, randomBytes(32).toString('hex'), 'NX');
  const salt = await redis.get(key);
  if (!salt) throw new Error(`could not read ${key} from Redis`);
  return salt;
}

/** The salt kept in Redis, without generating one (null when Redis has none: new, flushed, or lost). */
export async function storedSalt(redis: Redis, prefix: string): Promise<string | null> {
  return redis.get(keys(prefix).salt);
}
