export {
  buildWebhook,
  CONNECTIONS_CHECKING_INTERVAL_MS,
  HEADERS_TIMEOUT_MS,
  KEEP_ALIVE_TIMEOUT_MS,
  REQUEST_TIMEOUT_MS,
  type WebhookOptions,
} from './app.js';
export { loadWebhookAuth, type WebhookAuth } from './auth.js';
export { ReplicasBehindError, type BatchSink, type SinkPersistence } from './batch-sink.js';
export { errors, type WebhookErrorCode } from './errors.js';
export { createWebhookMetrics, type WebhookMetrics } from './metrics.js';
export { type Backpressure } from './plugins/backpressure.js';
export { MAX_JSON_DEPTH } from './plugins/body.js';
export { RedisBatchSink, WAIT_REPLICAS_TIMEOUT_MS, type RedisSinkOptions } from './redis-sink.js';
export { startWebhook, type RunningWebhook } from './server.js';
export { audienceFor, ClusterSecrets, loadIntakeAuth, type IntakeAuth, type PubSubOidc } from './intake-auth.js';
