import type { QLIPConfigInput } from '@qlip/model';

/** fixtures/bench-s.json, the fields the ONNX benchmarks read. */
export interface BenchS {
  image: { size: number };
  patch_embed: { patch_size: number };
  block: { layernorm_eps: number };
  vision_encoder: { width: number; depth: number; heads: number; mlp_hidden: number };
  bottleneck: { bsq: { bits: number; entropy: { group_size: number } } };
  decoder: { width: number; depth: number; heads: number; mlp_hidden: number };
  text_encoder: {
    vocab_size: number;
    context_length: number;
    width: number;
    depth: number;
    heads: number;
    mlp_hidden: number;
    eot_token: number;
  };
  image_embedding: { projection: { out: number } };
}

/** bench-s as a QLIP config: plain erf-GELU MLP, no rope / SwiGLU / sub-LN, MLP quant_embed, 18 bits. */
export function benchSConfig(s: BenchS): QLIPConfigInput {
  const v = s.vision_encoder;
  const plain = {
    swiglu: false,
    subln: false,
    rope: false,
    hidden_act: 'gelu',
    layer_norm_eps: s.block.layernorm_eps,
  };
  const geometry = { image_size: s.image.size, patch_size: s.patch_embed.patch_size };
  const bits = s.bottleneck.bsq.bits;
  return {
    projection_dim: s.image_embedding.projection.out,
    vision_config: {
      ...plain,
      ...geometry,
      hidden_size: v.width,
      num_hidden_layers: v.depth,
      num_attention_heads: v.heads,
      intermediate_size: v.mlp_hidden,
      quantizer: 'bsq',
      quantizer_l2_norm: true,
      quantizer_embed_type: 'mlp',
      hidden_size_post_q: s.decoder.width,
      quantizer_cfg: {
        embed_dim: bits,
        group_size: s.bottleneck.bsq.entropy.group_size,
        l2_norm: true,
        input_format: 'blc',
      },
    },
    decoder_config: {
      ...plain,
      ...geometry,
      hidden_size: s.decoder.width,
      num_hidden_layers: s.decoder.depth,
      num_attention_heads: s.decoder.heads,
      intermediate_size: s.decoder.mlp_hidden,
    },
    text_config: {
      ...plain,
      vocab_size: s.text_encoder.vocab_size,
      max_position_embeddings: s.text_encoder.context_length,
      hidden_size: s.text_encoder.width,
      num_hidden_layers: s.text_encoder.depth,
      num_attention_heads: s.text_encoder.heads,
      intermediate_size: s.text_encoder.mlp_hidden,
      eos_token_id: s.text_encoder.eot_token,
    },
  };
}
