export { cacheDir, repoRoot } from './paths.js';
export { pingRedis, probeElasticsearch, sleep, type EsProbe } from './probe.js';
export { hasCommand, run, runWithProgress, spawnManaged, type Managed } from './process.js';
export {
  ensureRedis,
  redisDataDir,
  startRedisServer,
  type EnsureRedisOptions,
  type RedisHandle,
  type RedisServerOptions,
} from './redis.js';
export {
  ES_ARTIFACT,
  ES_USER,
  ES_VERSION,
  ensureElasticsearch,
  ensureElasticsearchInstalled,
  findJavaHome,
  startElasticsearch,
  type EsHandle,
} from './elasticsearch.js';
