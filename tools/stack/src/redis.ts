import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from './paths.js';
import { pingRedis } from './probe.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCommand, spawnManaged, type Managed } from './process.js';

const REDIS_START_DEADLINE_MS = 10_000;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface RedisHandle {
  url: string;
  /** Set when crtrail started this Redis (and so must stop it). */
  started?: Managed;
}

type Log = (m: string) => void;

export interface RedisServerOptions {
  /**
   * Keep data on disk: `--appendonly yes --appendfsync everysec` (at most ~1 s of writes lost if the
   * machine dies; none when only redis-server does). Off: `--save '' --appendonly no`, a throw-away.
   */
  persistent?: boolean;
  /** Data folder (`--dir`): the AOF lives here across runs. Default: a fresh temp folder. */
  dir?: string;
  /** More redis-server arguments (e.g. `['--replicaof', '127.0.0.1', '6390']`). */
  args?: string[];
  log?: Log;
}

/** `<cache>/redis-<port>`: where the Redis `crtrail up` starts keeps its AOF, across runs. */
export function redisDataDir(port: number, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), `redis-${port}`);
}

/**
 * Starts a `redis-server` on `port`. Throw-away (no persistence, data folder in a temp dir) unless
 * `persistent`; `npm start` starts a persistent one in {@link redisDataDir} when nothing answers,
 * tests start throw-away ones they may stop (outage tests). The old `(port, log)` form still works.
 * Stopping it (SIGTERM) never deletes its folder: a persistent Redis finds its AOF at the next start.
 */
export async function startRedisServer(port: number, options: RedisServerOptions | Log = {}): Promise<Managed> {
  const o: RedisServerOptions = typeof options === 'function' ? { log: options } : options;
  const log = o.log ?? (() => {});
  if (!hasCommand('redis-server')) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), `crtrail-redis-${port}-`));
  mkdirSync(dir, { recursive: true });
  const persistence = o.persistent
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '']
    : ['--save', '', '--appendonly', 'no'];
  const managed = spawnManaged(
    'redis',
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      ...persistence,
      '--daemonize',
      'no',
      ...(o.args ?? []),
    ],
    { stdio: 'ignore' },
  );
  // A redis-server that exits at once (port taken, bad argument) is not waited for in vain.
  let gone = false;
  void managed.exited.then(() => {
    gone = true;
    // The temp folder of a throw-away Redis (empty: it persists nothing) goes with it; a given one stays.
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + REDIS_START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (gone) break;
    if (await pingRedis(url, 500)) {
      log(
        `started redis-server on ${url} (pid ${managed.pid}${o.persistent ? `, appendonly yes in ${dir}` : ', no persistence'})`,
      );
      return managed;
    }
    await sleep(100);
  }
  await managed.stop();
  throw new Error(
    gone
      ? `redis-server on port ${port} exited at start (port in use, or data in ${dir} it cannot read?)`
      : `redis-server on port ${port} did not answer within ${REDIS_START_DEADLINE_MS / 1000}s`,
  );
}

export interface EnsureRedisOptions {
  /** Start a persistent Redis (AOF in {@link redisDataDir}) if one must be started. Default true. */
  persistent?: boolean;
  /** Data folder of a started Redis (default {@link redisDataDir}(port) when persistent). */
  dir?: string;
}

/**
 * Uses the Redis at `url`; if nothing answers there, the URL is local and `redis-server` exists,
 * starts one on that port — durable by default (`appendonly yes`, data under the cache folder),
 * since what the webhook acks lives in it until indexed.
 */
export async function ensureRedis(
  url: string,
  log: Log = () => {},
  options: EnsureRedisOptions = {},
): Promise<RedisHandle> {
  if (await pingRedis(url)) {
    log(`using Redis at ${url}`);
    return { url };
  }
  const u = new URL(url);
  if (!LOCAL_HOSTS.has(u.hostname)) {
    throw new Error(
      `Redis at ${url} does not answer (CRTRAIL_REDIS_URL); start it or point the variable at a running Redis`,
    );
  }
  if (!hasCommand('redis-server')) {
    throw new Error(
      `Redis at ${url} does not answer and redis-server is not installed; install Redis or set CRTRAIL_REDIS_URL`,
    );
  }
  const port = Number(u.port || 6379);
  const persistent = options.persistent ?? true;
  const dir = options.dir ?? (persistent ? redisDataDir(port) : undefined);
  const started = await startRedisServer(port, { persistent, ...(dir ? { dir } : {}), log });
  return { url, started };
}
