import * as tf from '@tensorflow/tfjs-core';
import { layerNorm, linear } from './layers.js';
import { layerNormSpecs, linearSpecs, type ParamSpec, type Params } from './params.js';
import { applyRope, type RopeTensors } from './rope.js';

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

/** The smallest float32, the additive mask value HF uses (`torch.finfo(float32).min`), not -inf. */
export const FLOAT32_MIN = -3.4028234663852886e38;

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

/** Additive causal mask `[T, T]`: 0 on and below the diagonal, FLOAT32_MIN above. */
export function causalMask(t: number): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = FLOAT32_MIN;
  return tf.tensor2d(m, [t, t]);
}

/**
 * Multi-head self-attention (QLIPAttention): q = q_proj(x) * hd^-0.5, optional rope on q and k,
 * softmax(q k^T + mask) v, optional `inner_attn_ln`, `out_proj`.
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
    const q0 = tf.mul(linear(params, `${prefix}.q_proj`, x), hd ** -0.5);
    let q = tf.transpose(tf.reshape(q0, [b, t, h, hd]), [0, 2, 1, 3]); // [B, H, T, hd]
    const kLin = tf.reshape(linear(params, `${prefix}.k_proj`, x), [b, t, h, hd]); // [B, T, H, hd]
    const v = tf.transpose(tf.reshape(linear(params, `${prefix}.v_proj`, x), [b, t, h, hd]), [0, 2, 1, 3]); // [B, H, T, hd]
    let kT: tf.Tensor;
    if (opts.rope) {
      q = applyRope(q, opts.rope);
      const k = applyRope(tf.transpose(kLin, [0, 2, 1, 3]), opts.rope); // [B, H, T, hd]
      kT = tf.transpose(k, [0, 1, 3, 2]); // [B, H, hd, T]
    } else {
      // Explicit transpose instead of matMul(transposeB): much faster on wasm.
      kT = tf.transpose(kLin, [0, 2, 3, 1]); // [B, H, hd, T]
    }
    let scores: tf.Tensor = tf.matMul(q as tf.Tensor4D, kT as tf.Tensor4D); // [B, H, T, T]
    if (opts.causal) scores = tf.add(scores, causalMask(t));
    const probs = tf.softmax(scores, -1);
    const ctx = tf.matMul(probs as tf.Tensor4D, v as tf.Tensor4D); // [B, H, T, hd]
    let out: tf.Tensor = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b, t, d]); // [B, T, D]
    if (cfg.subln) out = layerNorm(params, `${prefix}.inner_attn_ln`, out, cfg.layer_norm_eps);
    return linear(params, `${prefix}.out_proj`, out);
  });
}
