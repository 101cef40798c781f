// CLIP text transformer (official parameter names, prefix `text_model`)
export { TEXT_PREFIX, type TextConfig, type TextOutput, poolPositions, textSpecs, textTransformer } from './text-model.js';
