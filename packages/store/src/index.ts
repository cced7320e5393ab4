export * from './client.js';
export * from './names.js';
export * from './mapping.js';
export * from './template.js';
export * from './bulk.js';
export * from './record.js';
