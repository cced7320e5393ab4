import { loadEnv } from '@crtrail/config';
import { cleanupPrefix, testEs, testRedis, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { startWebhook, type RunningWebhook } from '@crtrail/webhook';

/** A real webhook at port 0 on real Redis under its own prefix, for `fn`; closed and cleaned up after. */
export async function withWebhook(name: string, env: Record<string, string>, fn: (hook: RunningWebhook) => Promise<void>): Promise<void> {
  const prefix = uniquePrefix(name);
  const hook = await startWebhook(loadEnv({ CRTRAIL_REDIS_URL: testRedisUrl(), CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0', ...env }), false);
  try {
    await fn(hook);
  } finally {
    await hook.close();
    const redis = testRedis();
    const es = testEs();
    await cleanupPrefix(prefix, es, redis);
    redis.disconnect();
    await es.close();
  }
}
