export * from './paths.js';
export * from './probe.js';
export * from './process.js';
export * from './redis.js';
export * from './elasticsearch.js';
