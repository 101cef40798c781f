import type { UnifiedConfigInput } from '../src/config.js';
import { UnifiedModel } from '../src/model.js';

/** A tiny random unified model: 2 layers of width 32, 4x4 grid of 16 bits, a 3-word vocabulary. */
export function tinyUnified(over: Partial<UnifiedConfigInput> = {}, seed = 0): UnifiedModel {
  return UnifiedModel.create(
    {
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      intermediate_size: 64,
      max_position_embeddings: 40,
      image_bits: 16,
      image_grid: [4, 4],
      image_head: { kind: 'groups', group_size: 8 },
      clip_ids: [320, 1125, 539],
      tokenizer: { path: 'pretrained:qlip-tiny-mnist' },
      ...over,
    },
    seed,
  );
}
