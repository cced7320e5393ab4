import { createHmac } from 'node:crypto';
import type { RedisClient } from '@crtrail/queue';
import type { Logger } from 'pino';
import { keysFor } from './keys.js';

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
 * While running, puts a checked salt back into Redis should Redis lose it (a restart without
 * persistence), so a webhook started afterwards reads the right salt instead of generating one;
 * a different salt found there is reported (a webhook generated it: restart it once this is fixed).
 */
export function watchRedactionSalt(
  redis: RedisClient,
  prefix: string,
  salt: string,
  log: Logger,
  everyMs = 10_000,
): NodeJS.Timeout {
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
        log.error(
          { key },
          'the redaction salt in Redis differs from the checked one this worker uses: a webhook generated a new one after Redis lost its data? set CRTRAIL_REDACTION_SALT to the original salt and restart the webhook',
        );
      }
    })().catch(() => {});
  }, everyMs);
  timer.unref();
  return timer;
}
