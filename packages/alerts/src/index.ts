export { recordFacts, objectKeyOf, type AlertOp, type RecordFacts } from './facts.js';
export {
  alertPlan,
  customRule,
  defaultRules,
  isCriticalObject,
  routeRecord,
  sinkName,
  type AlertPlan,
  type AlertRoute,
  type AlertRule,
  type ResolvedSink,
} from './rules.js';
export {
  buildAlert,
  groupAlerts,
  kibanaLinks,
  objectLabel,
  singleMessage,
  MAX_CHANGES,
  MAX_VALUE_CHARS,
  type Alert,
  type AlertChange,
  type AlertMessage,
} from './payload.js';
export {
  alertmanagerBody,
  alertmanagerEndpoint,
  sendToSink,
  sinkRequest,
  slackBody,
  webhookBody,
  SinkError,
  SINK_TIMEOUT_MS,
  type SinkRequest,
} from './sinks.js';
