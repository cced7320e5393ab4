import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, esNodeUrls, loadEnv, parseHostPorts } from '../src/index.js';

const fails = (env: Record<string, string>, pattern: RegExp): void => {
  assert.throws(
    () => loadEnv(env),
    (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    `expected ${pattern} for ${JSON.stringify(env)}`,
  );
};

test('host:port lists: names, IPv4, IPv6 in brackets, blanks around commas', () => {
  assert.deepEqual(parseHostPorts('redis-0.redis:26379, 10.0.0.2:26380,[::1]:7000'), [
    { host: 'redis-0.redis', port: 26379 },
    { host: '10.0.0.2', port: 26380 },
    { host: '::1', port: 7000 },
  ]);
  for (const bad of ['', 'a', 'a:', ':1', 'a:0', 'a:65536', 'a:1,,b:2', 'a:1;b:2', 'redis://a:1', '::1:7000']) {
    assert.throws(() => parseHostPorts(bad), /is not host:port/, bad);
  }
});

test('Sentinel: the sentinels need a master name and the reverse; errors name the variable', () => {
  const env = loadEnv({ CRTRAIL_REDIS_SENTINELS: 'a:26379,b:26379', CRTRAIL_REDIS_SENTINEL_NAME: 'mymaster' });
  assert.equal(env.CRTRAIL_REDIS_SENTINELS, 'a:26379,b:26379');
  fails(
    { CRTRAIL_REDIS_SENTINELS: 'a:26379' },
    /CRTRAIL_REDIS_SENTINELS="a:26379": Sentinel mode needs the name of the master set too \(CRTRAIL_REDIS_SENTINEL_NAME\)/,
  );
  fails(
    { CRTRAIL_REDIS_SENTINEL_NAME: 'mymaster' },
    /CRTRAIL_REDIS_SENTINEL_NAME="mymaster": a master name without sentinels/,
  );
  fails(
    { CRTRAIL_REDIS_SENTINELS: 'a:26379,b', CRTRAIL_REDIS_SENTINEL_NAME: 'm' },
    /CRTRAIL_REDIS_SENTINELS="a:26379,b": "b" is not host:port/,
  );
});

test('Cluster: seed nodes well-formed, exclusive with sentinels, database 0 only', () => {
  assert.equal(loadEnv({ CRTRAIL_REDIS_CLUSTER_NODES: 'a:7000,b:7001' }).CRTRAIL_REDIS_CLUSTER_NODES, 'a:7000,b:7001');
  fails(
    { CRTRAIL_REDIS_CLUSTER_NODES: 'a:7000,b:x' },
    /CRTRAIL_REDIS_CLUSTER_NODES="a:7000,b:x": "b:x" is not host:port/,
  );
  fails(
    { CRTRAIL_REDIS_CLUSTER_NODES: 'a:7000', CRTRAIL_REDIS_SENTINELS: 'b:26379', CRTRAIL_REDIS_SENTINEL_NAME: 'm' },
    /CRTRAIL_REDIS_CLUSTER_NODES="a:7000": CRTRAIL_REDIS_CLUSTER_NODES and CRTRAIL_REDIS_SENTINELS exclude each other/,
  );
  fails(
    { CRTRAIL_REDIS_CLUSTER_NODES: 'a:7000', CRTRAIL_REDIS_URL: 'redis://x:6379/2' },
    /CRTRAIL_REDIS_URL="redis:\/\/x:6379\/2": a Redis Cluster has database 0 only/,
  );
  assert.ok(loadEnv({ CRTRAIL_REDIS_CLUSTER_NODES: 'a:7000', CRTRAIL_REDIS_URL: 'rediss://u:p@x:6379/0' }));
});

test('TLS and credentials: rediss:// takes a CA, redis:// does not; other schemes are refused', () => {
  const env = loadEnv({
    CRTRAIL_REDIS_URL: 'rediss://default:secret@redis.example:6380',
    CRTRAIL_REDIS_CA: '/etc/ca.pem',
    CRTRAIL_REDIS_PASSWORD: 'other',
  });
  assert.equal(env.CRTRAIL_REDIS_CA, '/etc/ca.pem');
  assert.equal(env.CRTRAIL_REDIS_PASSWORD, 'other');
  fails(
    { CRTRAIL_REDIS_CA: '/etc/ca.pem' },
    /CRTRAIL_REDIS_CA="\/etc\/ca.pem": a CA for Redis needs TLS: set CRTRAIL_REDIS_URL=rediss:\/\//,
  );
  fails(
    { CRTRAIL_REDIS_URL: 'http://127.0.0.1:6379' },
    /CRTRAIL_REDIS_URL="http:\/\/127.0.0.1:6379": a redis:\/\/ or rediss:\/\/ \(TLS\) URL/,
  );
});

test('CRTRAIL_ES_URL: one node or a comma-separated list of http(s) nodes', () => {
  assert.deepEqual(esNodeUrls(loadEnv({}).CRTRAIL_ES_URL), ['http://127.0.0.1:9200']);
  const list = 'https://es-0:9200, https://es-1:9200,https://user:pw@es-2:9200';
  assert.deepEqual(esNodeUrls(loadEnv({ CRTRAIL_ES_URL: list }).CRTRAIL_ES_URL), [
    'https://es-0:9200',
    'https://es-1:9200',
    'https://user:pw@es-2:9200',
  ]);
  fails(
    { CRTRAIL_ES_URL: 'http://a:9200,,http://b:9200' },
    /CRTRAIL_ES_URL="http:\/\/a:9200,,http:\/\/b:9200": "" is not an http\(s\) URL/,
  );
  fails({ CRTRAIL_ES_URL: 'http://a:9200,es-1:9200' }, /"es-1:9200" is not an http\(s\) URL/);
  fails({ CRTRAIL_ES_URL: 'ftp://a' }, /"ftp:\/\/a" is not an http\(s\) URL/);
});
