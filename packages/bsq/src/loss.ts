import * as tf from '@tensorflow/tfjs-core';
import { groupCodebook } from './codes.js';
import { codeScale, hardCodes } from './quantize.js';

/** How the per-sample entropy is computed (the reference's `persample_entropy_compute`). */
export type EntropyMode = 'group' | 'analytical';

export interface BsqEntropyOptions {
  /** Bits per group for the "group" mode softmax over 2^groupSize codes. */
  groupSize: number;
  /** Inverse temperature of the soft assignment (reference default 100 in QLIP configs). */
  invTemperature: number;
  /** Codes scaled by 1/sqrt(L) (the quantizer's `l2_norm`). */
  l2Norm: boolean;
  mode: EntropyMode;
}

export interface BsqLossOptions extends BsqEntropyOptions {
  /** Commitment weight. */
  beta: number;
  /** Per-sample entropy weight. */
  gamma0: number;
  /** Codebook entropy weight. */
  gamma1: number;
  /** Weight of the whole entropy penalty (BSQ-ViT's zeta; QLIP uses 1). */
  zeta: number;
}

export interface BsqLossTerms {
  /** commit + zeta * (gamma0 * persample - gamma1 * codebook) / invTemperature (can be negative). */
  loss: tf.Scalar;
  commit: tf.Scalar;
  persampleEntropy: tf.Scalar;
  codebookEntropy: tf.Scalar;
}

/** H(p) = -sum p * ln(p + 1e-8) over the last axis. */
function entropy(p: tf.Tensor): tf.Tensor {
  return tf.neg(tf.sum(tf.mul(p, tf.log(tf.add(p, 1e-8))), -1));
}

/**
 * Soft entropies of the continuous (unscaled) z.
 *
 * group mode: split the L channels into G = L/g groups; p = softmax(2 * invT * <z_g, c>) over the
 * 2^g group codes c (entries +-scale); persample = mean over tokens of sum over groups of H(p);
 * codebook = sum over groups of H(mean over tokens of p).
 * analytical mode: per channel p(-1) = sigmoid(-4 * invT * scale * z); the same two entropies over
 * the pair [p, 1-p].
 *
 * @param z `[..., L]`, all leading axes are tokens
 */
export function bsqEntropy(
  z: tf.Tensor,
  opts: BsqEntropyOptions,
): { persample: tf.Scalar; codebook: tf.Scalar } {
  const bits = z.shape[z.shape.length - 1]!;
  const n = z.size / bits;
  const scale = codeScale(bits, opts.l2Norm);
  return tf.tidy(() => {
    const zf = tf.reshape(z, [n, bits]); // [n, L]
    let prob: tf.Tensor; // [n, G, K]
    if (opts.mode === 'group') {
      const g = opts.groupSize;
      if (bits % g !== 0)
        throw new RangeError(`bsqEntropy: ${bits} bits is not a multiple of group size ${g}`);
      const groups = bits / g;
      const k = 2 ** g;
      const cb = tf.tensor2d(groupCodebook(g, scale), [k, g]); // [K, g]
      const cbT = tf.transpose(cb); // [g, K] explicit transpose: wasm matMul with transposeB is slow
      const logits = tf.mul(tf.matMul(tf.reshape(zf, [n * groups, g]), cbT), 2 * opts.invTemperature); // [n*G, K]
      prob = tf.reshape(tf.softmax(logits), [n, groups, k]); // [n, G, K]
    } else {
      const p = tf.sigmoid(tf.mul(zf, -4 * scale * opts.invTemperature)); // [n, L] probability of -1
      prob = tf.stack([p, tf.sub(1, p)], -1); // [n, L, 2]
    }
    const persample = tf.mean(tf.sum(entropy(prob), -1)) as tf.Scalar;
    const codebook = tf.sum(entropy(tf.mean(prob, 0))) as tf.Scalar; // mean over tokens: [G, K]
    return { persample, codebook };
  });
}

/**
 * The BSQ quantisation loss, as the reference computes it in training mode:
 * beta * mean_tokens(sum_c (sg(zq) - z)^2) + zeta * (gamma0 * H_persample - gamma1 * H_codebook) / invT.
 * The commitment term uses the hard (scaled) codes with no gradient; the entropies differentiate
 * through the softmax/sigmoid.
 * @param z `[..., L]` quantizer input (continuous, L2-normalised when the model says so)
 */
export function bsqLoss(z: tf.Tensor, opts: BsqLossOptions): BsqLossTerms {
  const bits = z.shape[z.shape.length - 1]!;
  return tf.tidy(() => {
    const zq = hardCodes(z, opts.l2Norm);
    const sq = tf.reshape(tf.square(tf.sub(zq, z)), [-1, bits]); // [n, L]
    const commit = tf.mul(tf.mean(tf.sum(sq, -1)), opts.beta) as tf.Scalar;
    const { persample, codebook } = bsqEntropy(z, opts);
    const penalty = tf.sub(tf.mul(persample, opts.gamma0), tf.mul(codebook, opts.gamma1));
    const loss = tf.add(commit, tf.mul(penalty, opts.zeta / opts.invTemperature)) as tf.Scalar;
    return { loss, commit, persampleEntropy: persample, codebookEntropy: codebook };
  });
}
