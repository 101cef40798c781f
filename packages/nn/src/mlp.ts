import * as tf from '@tensorflow/tfjs-core';
import { activation, layerNorm, linear, silu } from './layers.js';
import { layerNormSpecs, linearSpecs, type ParamSpec, type Params } from './params.js';

/** The MLP fields of an official sub-config. */
export interface MlpConfig {
  hidden_size: number;
  intermediate_size: number;
  hidden_act: string;
  layer_norm_eps: number;
  /** SwiGLU (`w1`, `w2`, `w3`) instead of `fc1` -> act -> `fc2`. */
  swiglu: boolean;
  /** Adds `ffn_ln` before the last projection. */
  subln: boolean;
}

/** Parameter specs of `prefix` (= `...layers.i.mlp`) in the official state_dict order. */
export function mlpSpecs(prefix: string, cfg: MlpConfig): ParamSpec[] {
  const d = cfg.hidden_size;
  const i = cfg.intermediate_size;
  const ln = cfg.subln ? layerNormSpecs(`${prefix}.ffn_ln`, i) : [];
  if (cfg.swiglu) {
    return [
      ...linearSpecs(`${prefix}.w1`, d, i),
      ...linearSpecs(`${prefix}.w2`, d, i),
      ...linearSpecs(`${prefix}.w3`, i, d),
      ...ln,
    ];
  }
  return [...linearSpecs(`${prefix}.fc1`, d, i), ...linearSpecs(`${prefix}.fc2`, i, d), ...ln];
}

/**
 * SwiGLU `w3(ffn_ln(silu(w1 x) * w2 x))` or plain `fc2(ffn_ln(act(fc1 x)))`; `ffn_ln` only with subln.
 * SwiGLU always uses SiLU; `hidden_act` applies to the plain MLP only (as in the reference).
 * @param x `[..., D]` -> `[..., D]`
 */
export function mlp(params: Params, prefix: string, cfg: MlpConfig, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let hidden: tf.Tensor;
    if (cfg.swiglu) {
      hidden = tf.mul(silu(linear(params, `${prefix}.w1`, x)), linear(params, `${prefix}.w2`, x));
    } else {
      hidden = activation(cfg.hidden_act, linear(params, `${prefix}.fc1`, x));
    }
    if (cfg.subln) hidden = layerNorm(params, `${prefix}.ffn_ln`, hidden, cfg.layer_norm_eps);
    return linear(params, cfg.swiglu ? `${prefix}.w3` : `${prefix}.fc2`, hidden);
  });
}
