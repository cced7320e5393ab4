export { keys, keysFor, KEY_PERSISTENCE, type KeyOptions, type KeyPersistence, type StateKeys } from './keys.js';
export {
  HistoryCache,
  historyRetention,
  loadHistories,
  prepareHistorySave,
  saveHistories,
  type HistoryRetention,
  type PreparedHistorySave,
  type HistoryWrite,
  type LoadedHistory,
} from './history-store.js';
export { LOCK, LockTimeoutError, SharedLocks, withLocks } from './object-locks.js';
export { chainHead, confirmChain, pendingLinks, sealChain, type SealInput } from './chain.js';
export {
  listDeadLetters,
  listDlqEntries,
  pushDeadLetters,
  pushEventDeadLetters,
  removeDlqEntry,
  replaceDlqEntry,
  storedDlqEntries,
  type DeadLetter,
  type DeadLetterAction,
  type DlqEntry,
  type EventDeadLetter,
  type RefusedWrite,
  type StoredDlqEntry,
} from './dead-letters.js';
export {
  forgetFailure,
  listFailedBatches,
  noteFailure,
  replayFailedBatches,
  type FailedBatch,
} from './failed-batches.js';
export { importBaselineObjects, type BaselineResult } from './baseline.js';
export { RedisKindTable } from './kinds.js';
export { redactionSalt, storedSalt } from './salt.js';
export { RedactionSaltError, saltFingerprint, watchRedactionSalt } from './salt-guard.js';
export { AlertMarks, type AlertRoute } from './alert-marks.js';
export { listFailedAlerts, retryFailedAlerts, type FailedAlert } from './failed-alerts.js';
