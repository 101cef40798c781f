// Training entry point

export { type TrainOptions, type TrainResult, train } from './train.js';

// Configuration (zod, one schema per concern) and bundled presets

export {
  explainTrainConfig,
  PRESET_DIR,
  PRESETS,
  presetLayer,
  resolveTrainConfig,
  type TrainConfig,
  TrainConfigSchema,
} from './config.js';
export { TRAIN_CONFIG_SCHEMA_FILE, trainConfigJsonSchema } from './json-schema.js';

// The QLIP stage-1/stage-2 definition on the loop

export type { StepMetrics } from './qlip-task.js';

// The generic training loop (any model: parameters, a loss of a batch, what to save, the data)

export { Ema } from './ema.js';
export { GradientAccumulator, gradientsOf, NonFiniteLossError } from './gradients.js';
export {
  METRICS_FILE,
  runTrainingLoop,
  type TrainingLoopOptions,
  type TrainingLoopResult,
  type TrainingTask,
} from './loop.js';
export { AdamW, type AdamWState, clipByGlobalNorm, defaultNoDecay } from './optim.js';
export { learningRate } from './schedule.js';

// Checkpoints, initialisation (--init) and run state (--resume)

export {
  listCheckpoints,
  loadCheckpointState,
  OPTIMIZER_FILE,
  resolveCheckpoint,
  STATE_FILE,
  saveCheckpoint,
  stepDirName,
} from './checkpoint.js';
export { type InitReport, initModel } from './init.js';
export { openRunDirectory } from './run-dir.js';
export { checkpointConfigLayer, DISCRIMINATOR_FILE, DISCRIMINATOR_OPTIMIZER_FILE } from './run-state.js';

// bench-s (the PyTorch peer speed model), read from fixtures/bench-s.json

export { type BenchShape, benchConfig, benchSShape, benchSSpec } from './bench-s.js';
