export * from './model/index.js';
export * from './tokenizer/index.js';
