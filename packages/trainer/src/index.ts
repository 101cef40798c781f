// Optimisation
export { AdamW, type AdamWOptions, type AdamWState, clipByGlobalNorm, defaultNoDecay } from './optim.js';
export { type LrSchedule, learningRate } from './schedule.js';
export { Ema } from './ema.js';
