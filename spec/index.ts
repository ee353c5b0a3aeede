export * from './common.js';
export * from './config.js';
export * from './consumer.js';
export * from './route.js';
export * from './upstream.js';
export * from './user.js';
export * from './validate.js';
