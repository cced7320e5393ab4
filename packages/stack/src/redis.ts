import { pingRedis, sleep } from './probe.js';
import { hasCommand, spawnManaged, type Managed } from './process.js';

const REDIS_START_DEADLINE_MS = 10_000;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface RedisHandle {
  url: string;
  /** Set when crtrail started this Redis (and so must stop it). */
  started?: Managed;
}

/**
 * Starts a throw-away `redis-server` on `port` (no persistence). Used by `npm start` when nothing
 * answers, and by tests that need a Redis they may stop (outage tests).
 */
export async function startRedisServer(port: number, log: (m: string) => void = () => {}): Promise<Managed> {
  if (!hasCommand('redis-server')) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const managed = spawnManaged(
    'redis',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + REDIS_START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (await pingRedis(url, 500)) {
      log(`started redis-server on ${url} (pid ${managed.pid})`);
      return managed;
    }
    await sleep(100);
  }
  await managed.stop();
  throw new Error(`redis-server on port ${port} did not answer within ${REDIS_START_DEADLINE_MS / 1000}s`);
}

/**
 * Uses the Redis at `url`; if nothing answers there, the URL is local and `redis-server` exists,
 * starts one on that port.
 */
export async function ensureRedis(url: string, log: (m: string) => void = () => {}): Promise<RedisHandle> {
  if (await pingRedis(url)) {
    log(`using Redis at ${url}`);
    return { url };
  }
  const u = new URL(url);
  if (!LOCAL_HOSTS.has(u.hostname)) {
    throw new Error(`Redis at ${url} does not answer (CRTRAIL_REDIS_URL); start it or point the variable at a running Redis`);
  }
  if (!hasCommand('redis-server')) {
    throw new Error(`Redis at ${url} does not answer and redis-server is not installed; install Redis or set CRTRAIL_REDIS_URL`);
  }
  const started = await startRedisServer(Number(u.port || 6379), log);
  return { url, started };
}
