export * from './auth.js';
export * from './app.js';
export * from './errors.js';
export * from './metrics.js';
export * from './server.js';
export * from './token-table.js';
