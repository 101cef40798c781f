import { test } from 'vitest';
import { parseQLIPConfig, qlipSpecs } from '../src/index.js';
test('names', () => {
  const c = parseQLIPConfig({ vision_config: { image_size: 32, patch_size: 8, hidden_size: 64, intermediate_size: 256, num_attention_heads: 2, num_hidden_layers: 1, quantizer: 'bsq', quantizer_embed_type: 'mlp', quantizer_l2_norm: true, quantizer_cfg: { embed_dim: 10, group_size: 5 } }, decoder_config: { image_size: 32, patch_size: 8, hidden_size: 64, intermediate_size: 256, num_attention_heads: 2, num_hidden_layers: 1 }, text_config: { hidden_size: 64, intermediate_size: 256, num_attention_heads: 2, num_hidden_layers: 1, max_position_embeddings: 16 }, projection_dim: 32 });
  for (const s of qlipSpecs(c)) console.log(s.name, JSON.stringify(s.shape), s.layout);
});
