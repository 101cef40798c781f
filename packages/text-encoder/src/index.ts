export * from './bpe/index.js';
export * from './model/index.js';
