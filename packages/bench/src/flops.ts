import type { BenchShape } from './preset.js';

/**
 * Analytic matmul FLOPs with bench-s.json's convention: matmuls only, 2*M*N*K each, attention QK^T and AV
 * included; backward = 2x forward per matmul except the patch-embedding input gradient (pixels need none).
 * The two small matmuls inside the losses (BSQ entropy logits against the 2^g group codebook, the B x B
 * contrastive logits) are counted too and listed on their own so they can be left out by a reader.
 */

/** Which bottleneck to count: bench-s's single Linear each way, or the official 2-layer MLP the model runs. */
export type BottleneckKind = 'bench-s' | 'official-mlp';

/** Forward FLOPs of each component of one batch. */
export interface FlopParts {
  patchEmbed: number;
  visionBlocks: number;
  quantEmbed: number;
  quantEmbedPost: number;
  decoderBlocks: number;
  decoderHead: number;
  imageEmbedding: number;
  textBlocks: number;
  textProjection: number;
  entropyLogits: number;
  contrastiveLogits: number;
}

/** FLOPs of one batch of each workload. */
export interface WorkloadFlops {
  tokenize: number;
  reconstruct: number;
  text: number;
  trainForward: number;
  trainBackward: number;
  /** forward + backward (AdamW's elementwise work is not a matmul). */
  train: number;
  parts: FlopParts;
}

/** One pre-LN block on `[b, t, d]`: q, k, v, out projections, QK^T, AV, two MLP layers. */
export function blockFlops(b: number, t: number, d: number, mlp: number): number {
  return 2 * b * t * (4 * d * d + 2 * d * mlp) + 2 * 2 * b * t * t * d;
}

/** Matmul FLOPs of one batch (`shape.batch` images and prompts) of every workload. */
export function workloadFlops(shape: BenchShape, bottleneck: BottleneckKind = 'bench-s'): WorkloadFlops {
  const b = shape.batch;
  const n = (shape.imageSize / shape.patchSize) ** 2;
  const pix = 3 * shape.patchSize ** 2;
  const d = shape.width;
  const l = shape.bits;
  // The official MLP adds Linear(D->D) before the D->L layer and after the L->D layer.
  const extra = bottleneck === 'official-mlp' ? 2 * b * n * d * d : 0;
  const parts: FlopParts = {
    patchEmbed: 2 * b * n * pix * d,
    visionBlocks: shape.visionDepth * blockFlops(b, n + 1, d, shape.mlpHidden),
    quantEmbed: 2 * b * n * d * l + extra,
    quantEmbedPost: 2 * b * n * l * d + extra,
    decoderBlocks: shape.decoderDepth * blockFlops(b, n, d, shape.mlpHidden),
    decoderHead: 2 * b * n * d * shape.mlpHidden + 2 * b * n * shape.mlpHidden * pix,
    imageEmbedding: 2 * b * d * shape.projectionDim,
    textBlocks: shape.textDepth * blockFlops(b, shape.contextLength, shape.textWidth, shape.textMlpHidden),
    textProjection: 2 * b * shape.textWidth * shape.projectionDim,
    entropyLogits: 2 * (b * n * (l / shape.groupSize)) * shape.groupSize * 2 ** shape.groupSize,
    contrastiveLogits: 2 * b * b * shape.projectionDim,
  };
  const tokenize = parts.patchEmbed + parts.visionBlocks + parts.quantEmbed;
  const reconstruct = tokenize + parts.quantEmbedPost + parts.decoderBlocks + parts.decoderHead;
  const text = parts.textBlocks + parts.textProjection;
  const trainForward =
    reconstruct + parts.imageEmbedding + text + parts.entropyLogits + parts.contrastiveLogits;
  const trainBackward = 2 * trainForward - parts.patchEmbed;
  return {
    tokenize,
    reconstruct,
    text,
    trainForward,
    trainBackward,
    train: trainForward + trainBackward,
    parts,
  };
}

/** GFLOP/s of `flops` done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / ms / 1e6;
}
