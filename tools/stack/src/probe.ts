// The probes live with the clients they stand for, so that `crtrail up --webhook-only|--worker-only`
// checks its Redis and Elasticsearch without loading this package; re-exported for the tests and benches.
export { pingRedis } from '@crtrail/queue';
export { probeElasticsearch, type EsProbe } from '@crtrail/store';
