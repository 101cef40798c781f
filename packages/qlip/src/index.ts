// The one import Node users need: `import { QLIP } from 'qlip'`.
export type { RgbImage } from '@qlip/core';
export { type Background, InputWarnings } from './inputs.js';
export { describeModel, type ModelDescription } from './model-info.js';
export {
  type FromPretrainedOptions,
  type ImageLike,
  PRECISIONS,
  type Precision,
  QLIP,
  type RuntimeChoice,
  type Tokens,
  type ZeroShotPrediction,
} from './qlip.js';
