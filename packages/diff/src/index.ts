export { deepEqual, DEFAULT_IGNORE_PATHS, diffObjects, diffValues, isPlainObject, leaves, pathsOf, sanitize, toJsonPatch, type JsonPatchOp, type Op } from './ops.js';
export { applyJsonPatch, applyMergePatch } from './patch-apply.js';
export { opsText } from './text.js';
export { classifyKind, outcomeOf, type ChangeKind, type Outcome, type WriteFacts } from './kind.js';
export { baseOf, boundVersions, compareResourceVersions, compareVersions, insertVersion, knownBefore, lastWriteBefore, MAX_DEPENDENTS, MAX_VERSIONS, orderKey, predecessorOf, sameLife, successorOf, type Dependent, type History, type OrderKey, type StoredFields, type Subject, type Version } from './history.js';
export { applyMutation, defaultPlural, expandMutations, importBaseline, patchTypeOf, stateHash, type ApplyResult, type Baseline, type ChangeFields, type EngineOptions, type Mutation, type PatchType, type Repair, type RepairFields } from './engine.js';
export { batchObjects, planBatch, type BatchObject, type BatchPlan, type PlannedHistory, type PlannedRecord, type PlannedRepair, type PlanOptions, type PoisonedEvent } from './batch.js';
