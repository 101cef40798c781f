export { evalClassNames, evalDataset, evalSource, headOfBatch } from './data.js';
export { type ZeroShotJobOptions, type ZeroShotJobResult, evaluateZeroShot } from './zero-shot.js';
export {
  type FdNetwork,
  type ReconstructionJobOptions,
  type ReconstructionJobResult,
  evaluateReconstruction,
} from './reconstruction.js';
