// The browser-safe part of @qlip/eval (no Node built-ins, no tfjs): zero-shot scoring as the CLI does it.
export { fillTemplates } from './templates.js';
export { cosineScores, ensemblePrompts } from './zeroshot.js';
