import * as tf from '@tensorflow/tfjs-core';

// Functional tf ops only: the Node build of tfjs-core does not register the chained `t.add()` methods.

/**
 * L2-normalise over the last axis: z / max(||z||, eps), like `F.normalize(z, dim=-1)` (eps 1e-12).
 * @param z `[..., L]`
 */
export function l2Normalize(z: tf.Tensor, eps = 1e-12): tf.Tensor {
  return tf.tidy(() => tf.div(z, tf.maximum(tf.norm(z, 'euclidean', -1, true), eps)));
}

/** The quantizer's output scale: 1/sqrt(L) when its l2_norm is on (codes on the unit sphere), else 1. */
export function codeScale(bits: number, l2Norm: boolean): number {
  return l2Norm ? 1 / Math.sqrt(bits) : 1;
}

/**
 * Hard codes with no gradient path: +1 where z > 0, else -1 (zero and -0 map to -1), divided by
 * sqrt(L) when `l2Norm` (division, as the reference does, so values match bit for bit).
 * @param z `[..., L]` -> `[..., L]`
 */
export function hardCodes(z: tf.Tensor, l2Norm: boolean): tf.Tensor {
  const bits = z.shape[z.shape.length - 1]!;
  return tf.tidy(() => {
    // step(z) is 1 for z > 0 and 0 otherwise (its gradient is zero), so 2*step(z)-1 is the sign rule.
    const signs = tf.sub(tf.mul(tf.step(z, 0), 2), 1);
    return l2Norm ? tf.div(signs, Math.sqrt(bits)) : signs;
  });
}

/**
 * Binary spherical quantization with the straight-through estimator:
 * zq = (z + sg(sign(z) - z)) * scale, so the forward value is the hard code and dzq/dz = scale.
 * @param z `[..., L]` (normally L2-normalised) -> zq `[..., L]`
 */
export function bsqQuantize(z: tf.Tensor, opts: { l2Norm: boolean }): tf.Tensor {
  const bits = z.shape[z.shape.length - 1]!;
  const scale = codeScale(bits, opts.l2Norm);
  const ste = tf.customGrad((x, _save) => ({
    value: hardCodes(x as tf.Tensor, opts.l2Norm),
    gradFunc: (dy: tf.Tensor) => (opts.l2Norm ? tf.mul(dy, scale) : tf.clone(dy)),
  }));
  return ste(z);
}
