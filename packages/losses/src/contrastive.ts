import { l2Normalize } from '@qlip/bsq';
import * as tf from '@tensorflow/tfjs-core';

/** CLIP's initial logit scale, ln(1 / 0.07). */
export const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
/** CLIP caps the temperature multiplier at 100: exp(min(logit_scale, ln 100)). */
export const LOGIT_SCALE_MAX = Math.log(100);

/** exp(min(logitScale, ln 100)); the gradient w.r.t. logitScale is 0 above the cap (as torch.clamp). */
export function clampedLogitScale(logitScale: tf.Scalar): tf.Scalar {
  return tf.tidy(() => tf.exp(tf.minimum(logitScale, LOGIT_SCALE_MAX)) as tf.Scalar);
}

/** Group id per caption: identical strings share an id (ids in order of first appearance). */
export function captionGroups(captions: readonly string[]): Int32Array {
  const ids = new Map<string, number>();
  const out = new Int32Array(captions.length);
  captions.forEach((c, i) => {
    let id = ids.get(c);
    if (id === undefined) {
      id = ids.size;
      ids.set(c, id);
    }
    out[i] = id;
  });
  return out;
}

/**
 * Multi-positive target matrix, row-major `[B, B]`: P[i, j] = 1 / |G(i)| when items i and j share a
 * group, else 0. Symmetric (all members of a group have the same group size), so it serves both the
 * image-to-text and the text-to-image direction. All-distinct groups give the identity.
 */
export function positiveTargets(groups: ArrayLike<number>): Float32Array {
  const b = groups.length;
  const count = new Map<number, number>();
  for (let i = 0; i < b; i++) count.set(groups[i]!, (count.get(groups[i]!) ?? 0) + 1);
  const p = new Float32Array(b * b);
  for (let i = 0; i < b; i++) {
    const w = 1 / count.get(groups[i]!)!;
    for (let j = 0; j < b; j++) if (groups[j] === groups[i]) p[i * b + j] = w;
  }
  return p;
}

/** Sum over rows of the target entropy -sum_j P_ij ln P_ij, divided by B (0 for the identity). */
function meanTargetEntropy(groups: ArrayLike<number>): number {
  const count = new Map<number, number>();
  for (let i = 0; i < groups.length; i++) count.set(groups[i]!, (count.get(groups[i]!) ?? 0) + 1);
  let h = 0;
  for (let i = 0; i < groups.length; i++) h += Math.log(count.get(groups[i]!)!);
  return h / groups.length;
}

export interface InfoNceOptions {
  /**
   * Treat items with the same caption as positives for each other. Needs `captions` or `groups`;
   * with neither (or with `multiPositive: false`) the loss is plain CLIP InfoNCE.
   */
  multiPositive?: boolean;
  /** Caption text per item; identical strings are positives. */
  captions?: readonly string[];
  /** Group id per item (alternative to captions). */
  groups?: ArrayLike<number>;
}

export interface InfoNceTerms {
  /** (imageToText + textToImage) / 2 */
  loss: tf.Scalar;
  imageToText: tf.Scalar;
  textToImage: tf.Scalar;
  /** The multiplier actually applied, exp(min(logitScale, ln 100)). */
  scale: tf.Scalar;
}

/** Soft cross-entropy mean_i(-sum_j P_ij log_softmax(logits)_ij). @param logits `[B, B]` @param p `[B, B]` */
function softCrossEntropy(logits: tf.Tensor2D, p: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(p, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar;
}

/**
 * Symmetric InfoNCE as CLIP trains it: image and text embeddings L2-normalised,
 * logits = exp(min(logitScale, ln 100)) * I T^T, loss = (CE(logits, arange) + CE(logits^T, arange)) / 2.
 *
 * Multi-positive variant: a class-template batch repeats captions (64 items of 10 classes repeat about
 * half of them); plain InfoNCE then asks each image to prefer its own copy of a caption over an
 * identical one, which it cannot (their text embeddings are equal), so the loss has a floor of about
 * ln(copies) per such row and a gradient that fights the duplicates. With `multiPositive` each row's
 * target is uniform over its positives (soft cross-entropy), and the reported value subtracts the
 * target entropy (a constant per batch, so the gradient is unchanged): it is KL(P || softmax) and
 * reaches 0 at perfect alignment. With all-distinct captions P is the identity and both variants are
 * the same number.
 *
 * @param image `[B, D]` image embeddings (any norm)
 * @param text `[B, D]` text embeddings (any norm)
 * @param logitScale scalar, learnable (CLIP init ln(1/0.07))
 */
export function infoNce(
  image: tf.Tensor2D,
  text: tf.Tensor2D,
  logitScale: tf.Scalar,
  opts: InfoNceOptions = {},
): InfoNceTerms {
  const [b, d] = image.shape;
  if (text.shape[0] !== b || text.shape[1] !== d) {
    throw new Error(
      `infoNce: text embeddings [${text.shape}] do not match image embeddings [${image.shape}]`,
    );
  }
  if (logitScale.rank !== 0)
    throw new Error(`infoNce: logitScale must be a scalar, got shape [${logitScale.shape}]`);
  let groups: ArrayLike<number> | undefined;
  if (opts.multiPositive) {
    if (opts.captions && opts.groups) throw new Error('infoNce: pass either captions or groups, not both');
    groups = opts.captions ? captionGroups(opts.captions) : opts.groups;
    if (!groups) throw new Error('infoNce: multiPositive needs captions or groups for the batch');
    if (groups.length !== b) throw new Error(`infoNce: ${groups.length} captions/groups for a batch of ${b}`);
  }
  const offset = groups ? meanTargetEntropy(groups) : 0;
  return tf.tidy(() => {
    const scale = clampedLogitScale(logitScale);
    const img = l2Normalize(image); // [B, D]
    const txtT = tf.transpose(l2Normalize(text)); // [D, B] explicit transpose: wasm matMul with transposeB is slow
    const logits = tf.mul(scale, tf.matMul(img, txtT)) as tf.Tensor2D; // [B, B] rows: images, cols: texts
    const logitsT = tf.transpose(logits); // [B, B] rows: texts
    const p = groups ? tf.tensor2d(positiveTargets(groups), [b, b]) : tf.eye(b); // [B, B]
    const imageToText = tf.sub(softCrossEntropy(logits, p), offset) as tf.Scalar;
    const textToImage = tf.sub(softCrossEntropy(logitsT, p), offset) as tf.Scalar;
    const loss = tf.mul(tf.add(imageToText, textToImage), 0.5) as tf.Scalar;
    return { loss, imageToText, textToImage, scale };
  });
}
