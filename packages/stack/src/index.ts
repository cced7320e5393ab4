export * from './paths.js';
export * from './probe.js';
export * from './process.js';
export * from './redis.js';
export * from './elasticsearch.js';
export { freeTcpPort, infoFields, killNode, redisCli, waitFor } from './nodes.js';
export { startRedisSentinel, type RedisNode, type RedisSentinelOptions, type RedisSentinelSetup } from './redis-sentinel.js';
export { startRedisCluster, type RedisClusterOptions, type RedisClusterSetup } from './redis-cluster.js';
export { startElasticsearchCluster, type EsClusterOptions, type EsClusterSetup, type EsNode } from './elasticsearch-cluster.js';
