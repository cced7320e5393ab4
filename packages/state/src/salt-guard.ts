import { createHmac } from 'node:crypto';
import type { Client } from '@elastic/elasticsearch';
import type { RedisClient } from '@crtrail/queue';
import type { Logger } from 'pino';
import { keysFor } from './keys.js';
import { redactionSalt } from './salt.js';
import { indexNames, readSaltFingerprint, recordSaltFingerprint } from '@crtrail/store';

/**
 * What identifies a salt without revealing it: HMAC-SHA256 keyed by the salt over a fixed label.
 * Without the salt it cannot be recomputed, so keeping it beside the hashes gives nothing away.
 */
export function saltFingerprint(salt: string): string {
  return createHmac('sha256', salt).update('crtrail-salt-fingerprint').digest('hex');
}

export class RedactionSaltError extends Error {
  readonly code = 'CRTRAIL_ERR_REDACTION_SALT';
  constructor(message: string) {
    super(message);
    this.name = 'RedactionSaltError';
  }
}

/**
 * The redaction salt this worker may use, checked against the fingerprint recorded in
 * `<prefix>-meta` when the first worker started. A generated salt lives only in Redis: a new or
 * flushed Redis (no persistence) would otherwise generate another, and the same secret would hash
 * differently from then on, reported as a change of every redacted field. So:
 * - a fingerprint exists and the salt (env or Redis) does not match it: refuse to start;
 * - a fingerprint exists and Redis has no salt (and none is configured): refuse, generate nothing;
 * - no fingerprint yet: use (or generate, SET NX) the salt and record its fingerprint.
 * The webhook keeps reading/generating the salt in Redis with the same SET NX (it has no
 * Elasticsearch connection), so both always agree on the value in Redis; should the webhook be
 * the one that generated a new salt after Redis lost its data, the worker refuses that salt here,
 * before it writes a single record hashed with it.
 */
export async function checkRedactionSalt(redis: RedisClient, es: Client, prefix: string, fromEnv: string | undefined): Promise<string> {
  const recorded = await readSaltFingerprint(es, prefix);
  const hint = 'set CRTRAIL_REDACTION_SALT to the original salt';
  let salt = fromEnv;
  if (!salt) {
    const inRedis = await redis.get(keysFor(redis, prefix).salt);
    if (!inRedis && recorded) {
      throw new RedactionSaltError(
        `the redaction salt is missing from Redis (${keysFor(redis, prefix).salt}) but existing records were hashed with one (fingerprint in ${indexNames(prefix).meta}): Redis lost it? ${hint}; crtrail will not generate a new one`,
      );
    }
    salt = inRedis ?? (await redactionSalt(redis, prefix, undefined));
  }
  const mine = saltFingerprint(salt);
  const theirs = recorded ?? (await recordSaltFingerprint(es, prefix, mine));
  if (theirs.fingerprint !== mine) {
    throw new RedactionSaltError(
      `the redaction salt (${fromEnv ? 'CRTRAIL_REDACTION_SALT' : `from Redis, ${keysFor(redis, prefix).salt}`}) differs from the one existing records were hashed with (recorded ${theirs.recorded_at}): Redis lost it? ${hint}`,
    );
  }
  return salt;
}

/**
 * While running, puts a checked salt back into Redis should Redis lose it (a restart without
 * persistence), so a webhook started afterwards reads the right salt instead of generating one;
 * a different salt found there is reported (a webhook generated it: restart it once this is fixed).
 */
export function watchRedactionSalt(redis: RedisClient, prefix: string, salt: string, log: Logger, everyMs = 10_000): NodeJS.Timeout {
  const key = keysFor(redis, prefix).salt;
  const timer = setInterval(() => {
    void (async () => {
      const restored = await redis.set(key, salt, 'NX');
      if (restored) {
        log.warn({ key }, 'the redaction salt had vanished from Redis (data lost?): restored it from this worker');
        return;
      }
      const current = await redis.get(key);
      if (current !== null && current !== salt) {
        log.error({ key }, 'the redaction salt in Redis differs from the checked one this worker uses: a webhook generated a new one after Redis lost its data? set CRTRAIL_REDACTION_SALT to the original salt and restart the webhook');
      }
    })().catch(() => {});
  }, everyMs);
  timer.unref();
  return timer;
}
