import * as tf from '@tensorflow/tfjs-core';
import { layerNorm, linear } from './layers.js';
import { layerNormSpecs, linearSpecs, type ParamSpec, type Params } from './params.js';
import { applyRope, type RopeTensors } from './rope.js';
import { scaledDotProductAttention } from './sdpa.js';

/** The attention fields of an official sub-config (`vision_config`, `text_config`, `decoder_config`). */
export interface AttentionConfig {
  hidden_size: number;
  num_attention_heads: number;
  layer_norm_eps: number;
  q_bias: boolean;
  k_bias: boolean;
  v_bias: boolean;
  /** Adds `inner_attn_ln` on the concatenated heads before `out_proj`. */
  subln: boolean;
}

export interface AttentionOptions {
  /** Add a causal mask (finfo(float32).min above the diagonal, like HF CLIP). */
  causal?: boolean;
  /** 2-D rope for q and k (rows for every token; identity rows for unrotated leading tokens). */
  rope?: RopeTensors;
}

/** Parameter specs of `prefix` (= `...layers.i.self_attn`) in the official state_dict order. */
export function attentionSpecs(prefix: string, cfg: AttentionConfig): ParamSpec[] {
  const d = cfg.hidden_size;
  return [
    ...linearSpecs(`${prefix}.k_proj`, d, d, cfg.k_bias),
    ...linearSpecs(`${prefix}.v_proj`, d, d, cfg.v_bias),
    ...linearSpecs(`${prefix}.q_proj`, d, d, cfg.q_bias),
    ...(cfg.subln ? layerNormSpecs(`${prefix}.inner_attn_ln`, d) : []),
    ...linearSpecs(`${prefix}.out_proj`, d, d, true),
  ];
}

/**
 * Multi-head self-attention (QLIPAttention): q, k, v projections, optional rope on q and k,
 * softmax(hd^-0.5 q k^T + mask) v (`scaledDotProductAttention`: one fused kernel where the backend has it),
 * optional `inner_attn_ln`, `out_proj`.
 * @param x `[B, T, D]` -> `[B, T, D]`
 */
export function attention(
  params: Params,
  prefix: string,
  cfg: AttentionConfig,
  x: tf.Tensor,
  opts: AttentionOptions = {},
): tf.Tensor {
  return tf.tidy(() => {
    const [b, t, d] = x.shape as [number, number, number];
    const h = cfg.num_attention_heads;
    const hd = d / h;
    if (!Number.isInteger(hd))
      throw new Error(`attention "${prefix}": hidden size ${d} not divisible by ${h} heads`);
    let q = linear(params, `${prefix}.q_proj`, x); // [B, T, D]
    let k = linear(params, `${prefix}.k_proj`, x); // [B, T, D]
    const v = linear(params, `${prefix}.v_proj`, x); // [B, T, D]
    if (opts.rope) {
      const rope = opts.rope;
      const rotate = (y: tf.Tensor) => tf.reshape(applyRope(tf.reshape(y, [b, t, h, hd]), rope), [b, t, d]);
      q = rotate(q);
      k = rotate(k);
    }
    const scale = hd ** -0.5;
    let out = scaledDotProductAttention(q, k, v, { heads: h, scale, causal: opts.causal }); // [B, T, D]
    if (cfg.subln) out = layerNorm(params, `${prefix}.inner_attn_ln`, out, cfg.layer_norm_eps);
    return linear(params, `${prefix}.out_proj`, out);
  });
}
