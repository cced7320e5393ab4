export { CLUSTER_NAME, CLUSTER_NAME_RULE } from './cluster-name.js';
export * from './env.js';
export * from './schema.js';
export * from './defaults.js';
export * from './file.js';
export { repoRoot } from './repo-root.js';
