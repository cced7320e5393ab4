export { classifyActor, managerFromUserAgent, requestFieldManager, type Actor, type ActorKind } from './actor.js';
export { detectDrift, gitopsManagersOf } from './drift.js';
export { appliesTo, criticalFor, criticalPaths, subjectKind } from './critical.js';
export { LAST_APPLIED, redactEvent, redactStoredObject, redactValue } from './redact.js';
export {
  groupOfApiVersion,
  kindField,
  kindsTaught,
  learnKinds,
  resourceNames,
  type KindEntry,
  type KindStore,
} from './kinds.js';
