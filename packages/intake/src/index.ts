export {
  BODIES_ANNOTATION,
  DERIVED_ANNOTATION,
  SOURCE_ANNOTATION,
  TRUNCATED_ANNOTATION,
  type IntakeSource,
} from './annotations.js';
export { IntakeError, intakeErrors, statusOf } from './errors.js';
export { DEFAULT_MAX_INFLATED_BYTES } from './decode.js';
export type { Conversion, ExportRead, Rejected, Skipped, SkipReason } from './result.js';
export {
  EKS_AUDIT_STREAM_PREFIX,
  eksEventsOfPayload,
  eksEventsOfRecord,
  parseCloudWatchPayload,
  type CloudWatchLogEvent,
  type CloudWatchPayload,
} from './cloudwatch.js';
export {
  decodeFirehoseDelivery,
  firehoseAccessCheck,
  firehoseHandler,
  firehoseResponse,
  type EventSink,
  type FirehoseDelivery,
  type FirehoseOptions,
  type FirehoseRequest,
  type FirehoseRequestBody,
  type FirehoseResponseBody,
  type IntakeHeaders,
  type IntakeReply,
} from './firehose.js';
export {
  AKS_AUDIT_CATEGORIES,
  AKS_SKIPPED_BODY,
  aksClusterOf,
  aksEventOfRecord,
  aksEventsOfRecords,
  readAksExport,
  type AksRecord,
} from './aks.js';
export {
  GKE_AUDIT_LOG_TYPE,
  GKE_K8S_SERVICE,
  RPC_CODE_TO_HTTP,
  gkeClusterOf,
  gkeEventOfEntry,
  gkeObjectRef,
  parseGkeMethod,
  readGkeExport,
  requestUriOf,
  type GkeMethod,
} from './gke.js';
export {
  GOOGLE_ISSUERS,
  GOOGLE_JWKS_URL,
  decodePubSubPush,
  pubsubAuthCheck,
  pubsubHandler,
  type PubSubDelivery,
  type PubSubOidcOptions,
  type PubSubOptions,
  type PubSubPushEnvelope,
  type PubSubReplyBody,
  type PubSubRequest,
} from './pubsub.js';
export { SecretSet } from './secrets.js';
export { detectExportSource, readProviderExport, type ExportSource } from './replay.js';
