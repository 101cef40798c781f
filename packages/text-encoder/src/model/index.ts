// CLIP text transformer (official parameter names, prefix `text_model`)
export {
  poolPositions,
  TEXT_PREFIX,
  type TextConfig,
  type TextOutput,
  textSpecs,
  textTransformer,
} from './text-model.js';
