import { Rng } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';

export interface TinyOptions {
  image?: number;
  patch?: number;
  bits?: number;
  groupSize?: number;
  eva?: boolean;
  rope?: boolean;
  embed?: 'mlp' | 'identity';
  hidden?: number;
  projBias?: boolean;
  act?: string;
  layers?: number;
  textLayers?: number;
  qkvBias?: boolean;
  /** Both L2 flags: quantizer_l2_norm and quantizer_cfg.l2_norm. */
  l2?: boolean;
  eos?: number;
}

/**
 * A tiny QLIP config (fast on 2 cores) with the knobs the tests vary: a `QLIPConfigInput` of @qlip/model
 * (typed structurally here: test-utils sits below model so that model's own tests can use it).
 */
export function tinyConfig(o: TinyOptions = {}) {
  const hidden = o.hidden ?? 16;
  const eva = o.eva ?? true;
  const embed = o.embed ?? 'mlp';
  const bits = o.bits ?? 8;
  const bias = o.qkvBias ?? true;
  const block = {
    hidden_size: hidden,
    intermediate_size: 24,
    num_attention_heads: 2,
    num_hidden_layers: o.layers ?? 1,
    swiglu: eva,
    subln: eva,
    rope: o.rope ?? eva,
    hidden_act: o.act ?? 'gelu',
    q_bias: bias,
    k_bias: bias,
    v_bias: bias,
    image_size: o.image ?? 16,
    patch_size: o.patch ?? 4,
  };
  return {
    projection_dim: 8,
    vision_projection_bias: o.projBias ?? false,
    text_projection_bias: o.projBias ?? false,
    text_config: {
      hidden_size: 16,
      intermediate_size: 32,
      num_attention_heads: 2,
      num_hidden_layers: o.textLayers ?? 1,
      hidden_act: o.act ?? 'gelu',
      vocab_size: 60,
      max_position_embeddings: 8,
      eos_token_id: o.eos ?? 59,
    },
    vision_config: {
      ...block,
      quantizer: 'bsq' as const,
      quantizer_l2_norm: o.l2 ?? true,
      quantizer_embed_type: embed,
      hidden_size_post_q: embed === 'mlp' ? 8 : hidden,
      quantizer_cfg: {
        embed_dim: embed === 'mlp' ? bits : hidden,
        group_size: o.groupSize ?? (embed === 'mlp' ? bits / 2 : hidden / 2),
        l2_norm: o.l2 ?? true,
        input_format: 'blc' as const,
      },
    },
    decoder_config: { ...block, hidden_size: embed === 'mlp' ? 8 : hidden, intermediate_size: 20 },
  };
}

/** `[b, 3, size, size]` standard-normal pixels from a seeded RNG. */
export function randomImages(b: number, size: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Float32Array.from({ length: b * 3 * size * size }, () => rng.normal()),
    [b, 3, size, size],
  );
}

/** Two token-id prompts `[2, 8]` for the tiny text tower (vocab 60, EOS 59). */
export function promptIds(): Int32Array {
  // Two prompts of context 8: [sot, tokens..., eos, pad...]
  return Int32Array.from([58, 3, 4, 5, 59, 0, 0, 0, /**/ 58, 7, 59, 0, 0, 0, 0, 0]);
}
