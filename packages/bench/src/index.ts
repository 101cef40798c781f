// The whole benchmark

export { type BenchOptions, type BenchResult, runBench } from './run.js';
export { settingsFor } from './variants.js';

// Kernel profile of the train step

export { profileTrainStep } from './profile.js';
