export { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
export {
  CHUNK_EVENTS,
  deadLetterEvents,
  processBatch,
  processJobs,
  type BatchDeps,
  type BatchResult,
  type UnitOptions,
} from './process-batch.js';
export { UnitPipeline, type UnitStage, type UnitTurn } from './unit-pipeline.js';
export { startWorker, workerReadiness, type RunningWorker, type WorkerOptions } from './worker.js';
export { createEnricher, type Enricher, type KindsOf } from './enricher.js';
export { tuneWorkerProcessGc } from './gc-tuning.js';
export {
  alertQueueName,
  createAlerting,
  SENT_MARKER_TTL_SECONDS,
  type AlertJob,
  type Alerting,
  type AlertingOptions,
  type AlertMetrics,
} from './alerts.js';
