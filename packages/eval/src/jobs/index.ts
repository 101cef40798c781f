export {
  evalClassNames,
  evalDataset,
  evalSource,
  forEachEvalBatch,
  headOfBatch,
  startEvalJob,
} from './data.js';
export {
  evaluateReconstruction,
  type FdNetwork,
  type ReconstructionJobOptions,
  type ReconstructionJobResult,
} from './reconstruction.js';
export { evaluateZeroShot, type ZeroShotJobOptions, type ZeroShotJobResult } from './zero-shot.js';
