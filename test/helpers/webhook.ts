import { loadEnv } from '@crtrail/config';
import { cleanupPrefix, testEs, testRedis, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { startWebhook, type RunningWebhook } from '@crtrail/webhook';

export interface TestWebhook {
  hook: RunningWebhook;
  /** Closes the webhook and deletes everything under its prefix. */
  stop(): Promise<void>;
}

/** A real webhook at port 0 on real Redis under its own prefix `name-…`. */
export async function startTestWebhook(name: string, env: Record<string, string> = {}): Promise<TestWebhook> {
  const prefix = uniquePrefix(name);
  const hook = await startWebhook(
    loadEnv({ CRTRAIL_REDIS_URL: testRedisUrl(), CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0', ...env }),
    false,
  );
  return {
    hook,
    async stop() {
      await hook.close();
      const redis = testRedis();
      const es = testEs();
      await cleanupPrefix(prefix, es, redis);
      redis.disconnect();
      await es.close();
    },
  };
}

/** {@link startTestWebhook} for the duration of `fn`. */
export async function withWebhook(
  name: string,
  env: Record<string, string>,
  fn: (hook: RunningWebhook) => Promise<void>,
): Promise<void> {
  const t = await startTestWebhook(name, env);
  try {
    await fn(t.hook);
  } finally {
    await t.stop();
  }
}
