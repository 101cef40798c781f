import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS, hasKernel } from './fused.js';

/** The smallest float32, the additive mask value HF uses (`torch.finfo(float32).min`), not -inf. */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** Options of `scaledDotProductAttention`. */
export interface SdpaOptions {
  /** Heads side by side in the last axis (`D = heads * hd`). */
  heads: number;
  /** Multiplies `q k^T` (`hd^-0.5` for standard attention). */
  scale: number;
  /**
   * Causal mask shifted by a past: query i (absolute position `Tk - Tq + i`) sees keys `0 .. Tk - Tq + i`.
   * With `Tq = Tk` the usual causal mask; with `Tq = 1` (a decoding step) every key.
   */
  causal?: boolean;
}

/** Additive causal mask `[T, T]`: 0 on and below the diagonal, FLOAT32_MIN above. */
export function causalMask(t: number): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = FLOAT32_MIN;
  return tf.tensor2d(m, [t, t]);
}

/**
 * The attention core, `softmax(scale q k^T + mask) v` per head, on tensors in the projections' own layout
 * (heads side by side, no `[B, H, T, hd]` copies). One kernel forward and one backward where the backend
 * registers `FUSED_KERNELS.attention` (the wasm backend with @qlip/native-kernels, unless
 * `QLIP_NATIVE_ATTENTION=0`); elsewhere composed from stock ops (head transposes, two matmuls, the additive
 * FLOAT32_MIN mask, softmax), with the same result within float rounding.
 * @param q `[B, Tq, D]`
 * @param k `[B, Tk, D]`
 * @param v `[B, Tk, D]`
 * @returns `[B, Tq, D]`
 */
export function scaledDotProductAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  opts: SdpaOptions,
): tf.Tensor {
  const [b, tq, d] = q.shape as [number, number, number];
  const tk = k.shape[1]!;
  const { heads } = opts;
  if (
    q.rank !== 3 ||
    k.rank !== 3 ||
    !tf.util.arraysEqual(k.shape, v.shape) ||
    k.shape[0] !== b ||
    k.shape[2] !== d ||
    !Number.isInteger(d / heads)
  ) {
    throw new Error(
      `attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] are not [B, Tq, D], [B, Tk, D], [B, Tk, D] with D divisible by ${heads} heads`,
    );
  }
  const attrs = { heads, scale: opts.scale, causal: opts.causal ?? false };
  const fused =
    [q, k, v].every((t) => t.dtype === 'float32') &&
    tk > 0 &&
    attrs.scale > 0 &&
    (!attrs.causal || tk >= tq) &&
    hasKernel(FUSED_KERNELS.attention) &&
    hasKernel(FUSED_KERNELS.attentionGrad);
  return fused ? fusedAttention(q, k, v, attrs) : compositeAttention(q, k, v, attrs);
}

type Attrs = Required<SdpaOptions>;

/** The fused kernels, with the probabilities saved for the gradient kernel (and no gradient asked for them). */
function fusedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, attrs: Attrs): tf.Tensor {
  const engine = tf.engine();
  const kernelAttrs = attrs as unknown as tf.NamedAttrMap;
  const op = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, p] = engine.runKernel(
      FUSED_KERNELS.attention,
      { q: qi, k: ki, v: vi },
      kernelAttrs,
    ) as tf.Tensor[];
    save([qi, ki, vi, p!]);
    return {
      value: o!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const inputs = { dy, q: sq, k: sk, v: sv, p: sp };
        return engine.runKernel(FUSED_KERNELS.attentionGrad, inputs, kernelAttrs) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(q, k, v);
}

/** The same from stock ops: `[B, T, D] -> [B, H, T, hd]` transposes, batched matmuls, additive mask, softmax. */
function compositeAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, attrs: Attrs): tf.Tensor {
  return tf.tidy(() => {
    const [b, tq, d] = q.shape as [number, number, number];
    const tk = k.shape[1]!;
    const h = attrs.heads;
    const hd = d / h;
    const heads = (x: tf.Tensor, t: number) => tf.transpose(tf.reshape(x, [b, t, h, hd]), [0, 2, 1, 3]);
    const qh = heads(tf.mul(q, attrs.scale), tq) as tf.Tensor4D; // [B, H, Tq, hd]
    // Explicit transpose instead of matMul(transposeB): much faster on stock wasm.
    const kT = tf.transpose(tf.reshape(k, [b, tk, h, hd]), [0, 2, 3, 1]) as tf.Tensor4D; // [B, H, hd, Tk]
    let scores: tf.Tensor = tf.matMul(qh, kT); // [B, H, Tq, Tk]
    if (attrs.causal && tq > 1) {
      // Query i (absolute Tk - Tq + i) sees keys 0 .. Tk - Tq + i: the causal mask shifted by the past.
      const mask = causalMask(tq);
      scores = tf.add(scores, tk > tq ? tf.concat([tf.zeros([tq, tk - tq]), mask], 1) : mask);
    }
    const probs = tf.softmax(scores, -1) as tf.Tensor4D;
    const ctx = tf.matMul(probs, heads(v, tk) as tf.Tensor4D); // [B, H, Tq, hd]
    return tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b, tq, d]); // [B, Tq, D]
  });
}
