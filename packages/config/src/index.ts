export { loadApiserverAuth, type ApiserverAuth, type WebhookTls } from './apiserver-auth.js';
export { CLUSTER_NAME, CLUSTER_NAME_RULE } from './cluster-name.js';
export {
  ConfigError,
  envSchema,
  esNodeUrls,
  loadEnv,
  parseHostPorts,
  workerExecArgv,
  workerHeapNeedMb,
  WORKER_SIZING,
  type Env,
  type HostPort,
} from './env.js';
export { type AlertRuleConfig, type AlertSinkConfig, type CrtrailConfig } from './schema.js';
export { checkConfigFile, checkConfigText, defaultConfig, loadConfig } from './file.js';
export { repoRoot } from './repo-root.js';
export { parseSecretLines, readSecretFile, type SecretLine } from './secret-lines.js';
export { TokenTable } from './token-table.js';
