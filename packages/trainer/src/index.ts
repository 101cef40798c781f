// Training entry point

// bench-s (the PyTorch peer's speed model), read from fixtures/bench-s.json
export { type BenchShape, benchConfig, benchSShape, benchSSpec } from './bench-s.js';
// Checkpoints
export {
  listCheckpoints,
  loadCheckpointState,
  OPTIMIZER_FILE,
  readOptimizerState,
  resolveCheckpoint,
  type SaveCheckpointOptions,
  STATE_FILE,
  saveCheckpoint,
  stepDirName,
  writeOptimizerState,
} from './checkpoint.js';

// Configuration (zod, one schema per concern) and bundled presets
export {
  CheckpointSchema,
  DebugSchema,
  EmaSchema,
  explainTrainConfig,
  LossSchema,
  ModelSectionSchema,
  OptimizerSchema,
  PRESET_DIR,
  PRESETS,
  presetLayer,
  resolveTrainConfig,
  ScheduleSchema,
  Stage1LossSchema,
  Stage2LossSchema,
  type TrainConfig,
  type TrainConfigInput,
  TrainConfigSchema,
} from './config.js';
export { Ema } from './ema.js';
// The generic training loop (any model: parameters, a loss of a batch, what to save, the data)
export {
  GradientAccumulator,
  gradientsOf,
  type LossOutput,
  type MicroGradients,
  NonFiniteLossError,
} from './gradients.js';
// Initialisation (--init) and run state (--resume)
export { type InitReport, initModel } from './init.js';
export { TRAIN_CONFIG_SCHEMA_FILE, trainConfigJsonSchema } from './json-schema.js';
export {
  type LoopResume,
  type LoopStepMetrics,
  METRICS_FILE,
  type MicroBatch,
  type MicroContext,
  runTrainingLoop,
  type StepContext,
  type TrainingLoopOptions,
  type TrainingLoopResult,
  type TrainingTask,
} from './loop.js';
// Optimisation
export { AdamW, type AdamWOptions, type AdamWState, clipByGlobalNorm, defaultNoDecay } from './optim.js';
// The QLIP stage-1/stage-2 definition on the loop
export type { StepMetrics } from './qlip-task.js';
export { type OpenRunDirectoryOptions, openRunDirectory } from './run-dir.js';
export {
  checkpointConfigLayer,
  DISCRIMINATOR_FILE,
  DISCRIMINATOR_OPTIMIZER_FILE,
  EMA_DIR,
  type TrainerState,
} from './run-state.js';
export { type LrSchedule, type LrTail, learningRate } from './schedule.js';
export { isStage2Trainable, toUnitNhwc } from './steps.js';
export { type TrainOptions, type TrainResult, train } from './train.js';
