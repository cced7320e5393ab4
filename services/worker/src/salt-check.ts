import type { Client } from '@elastic/elasticsearch';
import type { RedisClient } from '@crtrail/queue';
import { keysFor, RedactionSaltError, redactionSalt, saltFingerprint, storedSalt } from '@crtrail/state';
import { indexNames, readSaltFingerprint, recordSaltFingerprint } from '@crtrail/store';

// The worker's bring-up check: it joins Redis (the salt) and Elasticsearch (the fingerprint recorded
// beside the records), so it lives here, in the composition root, not in either package.

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
export async function checkRedactionSalt(
  redis: RedisClient,
  es: Client,
  prefix: string,
  fromEnv: string | undefined,
): Promise<string> {
  const recorded = await readSaltFingerprint(es, prefix);
  const hint = 'set CRTRAIL_REDACTION_SALT to the original salt';
  let salt = fromEnv;
  if (!salt) {
    const inRedis = await storedSalt(redis, prefix);
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
