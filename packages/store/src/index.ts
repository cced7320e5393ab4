export { authHeaders, createEsClient, esConnectionFromEnv, shownEsUrl, type EsConnection } from './client.js';
export { indexNames, type IndexNames } from './names.js';
export { recordMapping, recordSettings } from './mapping.js';
export { deletePrefix, installTemplates } from './template.js';
export {
  BULK_MAX_BYTES,
  BULK_MAX_DOCS,
  BULK_RETRY,
  bulkWrite,
  isRetryable,
  type BulkAction,
  type BulkRejection,
  type BulkStats,
} from './bulk.js';
export { buildRecord, objectKey, type RecordInput } from './record.js';
export type {
  ChangeRecordDoc,
  CrtrailFields,
  RecordActor,
  RecordAuditFields,
  RecordChange,
  RecordChangeFields,
  RecordEventFields,
  RecordObjectFields,
  RecordObjectRef,
  StoredRecordDoc,
} from './document.js';
export { RecordLocator, type BackingIndices } from './locate.js';
export { DEFAULT_ROLLOVER, hasIlm, rollover, rolloverIfNeeded, type RolloverPolicy } from './rollover.js';
export { recordQuery, type RecordFilters } from './query.js';
export { scanRecords, type ScannedHit, type ScanOptions } from './scan.js';
export { latestStoredStates, type StoredState } from './stored-state.js';
export { readSaltFingerprint, recordSaltFingerprint, type SaltFingerprintDoc } from './meta.js';
export { storedChainHead, type StoredChainHead } from './chain-head.js';
export { probeElasticsearch, type EsProbe } from './probe.js';
