import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS, hasKernel } from './fused.js';

/** The stock-op LayerNorm: `(x - mean) * rsqrt(var + eps) * gamma + beta` over the last axis. */
function layerNormComposite(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true); // [..., 1]
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axis, true); // biased, as torch.nn.LayerNorm
    const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gamma), beta);
  });
}

/**
 * LayerNorm's gradients from stock ops (a backend with the forward kernel but not the backward one):
 * dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy gamma; dgamma = sum dy xhat; dbeta = sum dy.
 * @param dy `[..., D]` @param x `[..., D]` @param gamma `[D]`
 */
function layerNormGradComposite(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, eps: number): tf.Tensor[] {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const lead = [...Array(axis).keys()]; // every axis but the last
    const centered = tf.sub(x, tf.mean(x, axis, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps)); // [..., 1]
    const xhat = tf.mul(centered, rstd);
    const g = tf.mul(dy, gamma);
    const meanG = tf.mean(g, axis, true);
    const meanGx = tf.mean(tf.mul(g, xhat), axis, true);
    const dx = tf.mul(rstd, tf.sub(tf.sub(g, meanG), tf.mul(xhat, meanGx)));
    return [dx, tf.sum(tf.mul(dy, xhat), lead), tf.sum(dy, lead)];
  });
}

tf.registerGradient({
  kernelName: FUSED_KERNELS.layerNorm,
  inputsToSave: ['x', 'gamma'],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma] = saved as [tf.Tensor, tf.Tensor];
    const { eps } = attrs as unknown as { eps: number };
    // One kernel gives all three; the engine keeps the ones it asks for and frees the others.
    const [dx, dgamma, dbeta] = hasKernel(FUSED_KERNELS.layerNormGrad)
      ? (tf
          .engine()
          .runKernel(FUSED_KERNELS.layerNormGrad, { dy: dy as tf.Tensor, x, gamma }, { eps }) as tf.Tensor[])
      : layerNormGradComposite(dy as tf.Tensor, x, gamma, eps);
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
});

/**
 * LayerNorm over the last axis with biased variance, like `torch.nn.LayerNorm`: one kernel (and one for its
 * three gradients) where the backend registers `FUSED_KERNELS.layerNorm`, stock ops elsewhere.
 * @param x `[..., D]` @param gamma `[D]` @param beta `[D]` -> `[..., D]`
 */
export function layerNormOp(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const d = x.shape[x.rank - 1];
  const fused =
    x.rank > 0 &&
    [x, gamma, beta].every((t) => t.dtype === 'float32') &&
    [gamma, beta].every((t) => t.rank === 1 && t.shape[0] === d) &&
    hasKernel(FUSED_KERNELS.layerNorm);
  if (!fused) return layerNormComposite(x, gamma, beta, eps);
  return tf.engine().runKernel(FUSED_KERNELS.layerNorm, { x, gamma, beta }, { eps }) as tf.Tensor;
}
