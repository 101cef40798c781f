export * from './tokenizer/index.js';
export * from './model/index.js';
