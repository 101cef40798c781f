// Optimisation
export { AdamW, type AdamWOptions, type AdamWState, clipByGlobalNorm, defaultNoDecay } from './optim.js';
export { type LrSchedule, learningRate } from './schedule.js';
export { Ema } from './ema.js';

// Checkpoints
export {
  loadCheckpointState,
  listCheckpoints,
  OPTIMIZER_FILE,
  resolveCheckpoint,
  STATE_FILE,
  type SaveCheckpointOptions,
  saveCheckpoint,
  stepDirName,
} from './checkpoint.js';
