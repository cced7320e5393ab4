export { cacheDir, repoRoot } from './paths.js';
export { pingRedis, probeElasticsearch, type EsProbe } from './probe.js';
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
  ensureEsUser,
  ensureElasticsearchInstalled,
  findJavaHome,
  isRoot,
  startElasticsearch,
  type EsHandle,
} from './elasticsearch.js';
export { freeTcpPort, infoFields, killNode, redisCli, waitFor } from './nodes.js';
export {
  startRedisSentinel,
  type RedisNode,
  type RedisSentinelOptions,
  type RedisSentinelSetup,
} from './redis-sentinel.js';
export { startRedisCluster, type RedisClusterOptions, type RedisClusterSetup } from './redis-cluster.js';
export {
  startElasticsearchCluster,
  type EsClusterOptions,
  type EsClusterSetup,
  type EsNode,
} from './elasticsearch-cluster.js';
