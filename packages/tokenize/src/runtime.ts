import { codesToIndices } from '@qlip/bsq';
import { f32ToF16Bits } from '@qlip/core';
import type { QLIPModel } from '@qlip/model';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A loaded QLIP model (the visual tokenizer and its text tower) as the jobs drive it -- tokenize,
 * reconstruct, eval, the queue workers, the `qlip` library API -- independent of how it runs (`tfjsRuntime`
 * here; `onnxRuntime` of @qlip/export, over ONNX Runtime, has the same shape). Images go to tokens and back
 * (`encode`/`decode`), and images and token ids of text to embeddings. Pixels are CLIP-normalised NCHW float32.
 */
export interface ModelRuntime {
  /** "tfjs" or "onnx", for reports. */
  readonly name: string;
  /**
   * Numeric precision of the encoder: absent or "fp32" (indices identical across runtimes), or a lower one
   * ("int8", ONNX Runtime only) whose indices may differ from fp32's.
   */
  readonly precision?: string;
  /** A lower-precision runtime's agreement with fp32 on the images it has compared so far. */
  agreement?(): IndexAgreement;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly bits: number;
  readonly grid: [number, number];
  /** Width D of the post-quantisation features (decoder input). */
  readonly featureDim: number;
  /**
   * @param pixels `[B, 3, S, S]`
   * @returns indices `[B, N]`, and with `features` the float16 bits of `[B, N, D]` post-quantisation features
   */
  encode(
    pixels: Float32Array,
    batch: number,
    opts: { features: boolean },
  ): Promise<{ indices: Uint32Array; features?: Uint16Array }>;
  /** indices `[B, N]` -> pixels `[B, 3, S, S]` (normalised space, unclamped). */
  decode(indices: Uint32Array, batch: number): Promise<Float32Array>;
  /** Token ids per prompt the text tower takes. */
  readonly contextLength: number;
  /** pixels `[B, 3, S, S]` -> L2-normalised image embeddings `[B, P]`. */
  imageEmbeddings(pixels: Float32Array, batch: number): Promise<Float32Array>;
  /** ids `[T, contextLength]` -> L2-normalised text embeddings `[T, P]`. */
  textEmbeddings(ids: Int32Array): Promise<Float32Array>;
}

/** How far a lower-precision runtime's token indices stray from fp32's on the same images. */
export interface IndexAgreement {
  /** Images compared (a lower-precision runtime compares a sample: its first images). */
  images: number;
  /** Tokens compared (images x tokens per image). */
  tokens: number;
  /** Percentage of tokens whose index is identical to fp32's. */
  indicesIdentical: number;
  /** Percentage of the tokens' bits (L per token) equal to fp32's. */
  bitsAgreeing: number;
}

async function hostData(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The tfjs runtime over a loaded QLIPModel. */
export function tfjsRuntime(model: QLIPModel): ModelRuntime {
  const s = model.imageSize;
  return {
    name: 'tfjs',
    imageSize: s,
    patchSize: model.patchSize,
    bits: model.bits,
    grid: model.grid,
    featureDim: model.config.vision_config.hidden_size_post_q,
    async encode(pixels, batch, opts) {
      const x = tf.tensor4d(pixels, [batch, 3, s, s]);
      try {
        if (!opts.features) return { indices: (await model.encodeToIndices(x)).indices };
        const f = model.encodeFeatures(x);
        try {
          const indices = codesToIndices(await f.preQuant.data(), model.bits);
          const features = f32ToF16Bits((await f.postQuant.data()) as Float32Array);
          return { indices, features };
        } finally {
          tf.dispose([f.preQuant, f.quantized, f.postQuant]);
        }
      } finally {
        x.dispose();
      }
    },
    async decode(indices, _batch) {
      return hostData(model.decodeIndices(indices));
    },
    contextLength: model.config.text_config.max_position_embeddings,
    async imageEmbeddings(pixels, batch) {
      const x = tf.tensor4d(pixels, [batch, 3, s, s]);
      try {
        return await hostData(model.imageEmbeddings(x, { normalize: true }));
      } finally {
        x.dispose();
      }
    },
    async textEmbeddings(ids) {
      return hostData(model.textEmbeddings(ids, { normalize: true }));
    },
  };
}
