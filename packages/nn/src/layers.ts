import * as tf from '@tensorflow/tfjs-core';
import { geluErf } from './fused.js';
import { layerNormOp } from './norm.js';
import { type Params, param } from './params.js';

// Functional tf ops only (no chained `t.add()`), so the code does not depend on which tfjs bundle registered them.

/**
 * `x @ W + b` with W stored as `[in, out]` under `prefix.weight` and an optional `prefix.bias` `[out]`.
 * @param x `[..., in]` -> `[..., out]`
 */
export function linear(params: Params, prefix: string, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const w = param(params, `${prefix}.weight`); // [in, out]
    const [inF, outF] = w.shape as [number, number];
    const lead = x.shape.slice(0, -1);
    const last = x.shape[x.shape.length - 1];
    if (last !== inF) {
      throw new Error(`linear "${prefix}": input has ${last} features, weight expects ${inF}`);
    }
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inF]); // [M, in]
    let y: tf.Tensor = tf.matMul(x2 as tf.Tensor2D, w as tf.Tensor2D); // [M, out]
    const b = params.get(`${prefix}.bias`);
    if (b) y = tf.add(y, b);
    return x.rank === 2 ? y : tf.reshape(y, [...lead, outF]); // [..., out]
  });
}

/**
 * LayerNorm over the last axis with biased variance, like `torch.nn.LayerNorm` (one fused kernel where the
 * backend has it: `layerNormOp`).
 * @param x `[..., D]` -> `[..., D]`
 */
export function layerNorm(params: Params, prefix: string, x: tf.Tensor, eps: number): tf.Tensor {
  return layerNormOp(x, param(params, `${prefix}.weight`), param(params, `${prefix}.bias`), eps);
}

/** The `hidden_act` values of HF `ACT2FN` that QLIP/CLIP configs use. */
export const ACTIVATIONS = [
  'gelu',
  'quick_gelu',
  'gelu_new',
  'gelu_pytorch_tanh',
  'relu',
  'silu',
  'swish',
] as const;

/** Tanh-approximated GELU (ACT2FN "gelu_new" / "gelu_pytorch_tanh"). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/** `x * sigmoid(1.702 x)` (ACT2FN "quick_gelu", OpenAI CLIP). */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

/** `x * sigmoid(x)` (SiLU / swish). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/** Apply a `hidden_act` by name; unknown names fail with the supported list. */
export function activation(name: string, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'gelu':
      return geluErf(x);
    case 'quick_gelu':
      return quickGelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh(x);
    case 'relu':
      return tf.relu(x);
    case 'silu':
    case 'swish':
      return silu(x);
    default:
      throw new Error(`unsupported hidden_act "${name}": expected one of ${ACTIVATIONS.join(', ')}`);
  }
}
