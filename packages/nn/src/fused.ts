import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernel names of qlip's fused ops. A backend that registers a kernel under one of these names (the wasm
 * backend with @qlip/native-kernels) runs the op as one kernel; elsewhere the op is composed from stock tfjs
 * ops with the same result (within float rounding) and the same gradient.
 */
export const FUSED_KERNELS = {
  /** inputs `{ x }`: exact GELU `x * Phi(x)`. Gradient: `geluErfGrad`. */
  geluErf: 'QlipGeluErf',
  /** inputs `{ dy, x }`: `dy * (Phi(x) + x * phi(x))`, the input gradient of exact GELU. */
  geluErfGrad: 'QlipGeluErfGrad',
  /**
   * inputs `{ p, g, m?, v? }` (no m and v: zero moments), attrs `{ beta1, beta2, lr, weightDecay, bc1, bc2,
   * eps }` -> `[p1, m1, v1]`: one AdamW step of @qlip/trainer's `AdamW`, same float32 operation order.
   */
  adamW: 'QlipAdamW',
  /**
   * inputs `{ x, gamma, beta }` (x `[..., D]`, gamma and beta `[D]`), attrs `{ eps }`: LayerNorm over the last
   * axis with the biased variance (`layerNorm` in layers.ts). Gradient: `layerNormGrad`.
   */
  layerNorm: 'QlipLayerNorm',
  /** inputs `{ dy, x, gamma }`, attrs `{ eps }` -> `[dx, dgamma, dbeta]`: LayerNorm's three gradients. */
  layerNormGrad: 'QlipLayerNormGrad',
  /**
   * inputs `{ q, k, v }` (`[B, Tq, D]`, `[B, Tk, D]`, `[B, Tk, D]`, heads side by side), attrs `{ heads, scale,
   * causal }` -> `[o, p]`: `o = softmax(scale q k^T + mask) v` per head `[B, Tq, D]`, `p` the probabilities
   * `[B, H, Tq, Tk]`. Causal: query i sees keys `0 .. i + Tk - Tq`. Gradient: `attentionGrad`.
   */
  attention: 'QlipAttention',
  /** inputs `{ dy, q, k, v, p }`, attrs as `attention` -> `[dq, dk, dv]`. */
  attentionGrad: 'QlipAttentionGrad',
} as const;

/** Whether the current backend runs `name` (one of FUSED_KERNELS) as its own kernel. */
export const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** `dy * (Phi(x) + x phi(x))`: the fused kernel when the backend has it, else stock ops. */
function geluErfGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (hasKernel(FUSED_KERNELS.geluErfGrad)) {
    return tf.engine().runKernel(FUSED_KERNELS.geluErfGrad, { dy, x }) as tf.Tensor;
  }
  return tf.tidy(() => {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return tf.mul(dy, tf.add(cdf, tf.mul(x, pdf)));
  });
}

tf.registerGradient({
  kernelName: FUSED_KERNELS.geluErf,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => geluErfGrad(dy as tf.Tensor, saved[0]!) }),
});

/** Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (`nn.GELU()`, ACT2FN "gelu"); one kernel where fused. */
export function geluErf(x: tf.Tensor): tf.Tensor {
  if (x.dtype === 'float32' && hasKernel(FUSED_KERNELS.geluErf)) {
    return tf.engine().runKernel(FUSED_KERNELS.geluErf, { x }) as tf.Tensor;
  }
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}
