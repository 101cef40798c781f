import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BsqLossOptions,
  codesToGroupIndices,
  codesToIndices,
  hardCodes,
  indicesToCodes,
  l2Normalize,
  MAX_INDEX_BITS,
} from '@qlip/bsq';
import {
  f32ToBf16Bits,
  f32ToF16Bits,
  openCheckpoint,
  Rng,
  SINGLE_FILE,
  specMismatch,
  toFloat32,
  writeFileAtomic,
  writeSafetensors,
} from '@qlip/core';
import {
  type DecoderConfig,
  decoder,
  quantEmbed,
  quantEmbedPost,
  quantize,
  type VisionConfig,
  visionEncoder,
} from '@qlip/encoder';
import {
  disposeParams,
  fromStorage,
  initParams,
  linear,
  type Params,
  param,
  storageShape,
  toStorage,
} from '@qlip/nn';
import { type TextConfig, textTransformer } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { CONFIG_NAME } from './checkpoint.js';
import { parseQLIPConfig, type QLIPConfig, type QLIPConfigInput, readQLIPConfig } from './config.js';
import { checkFinite, loadParams } from './load.js';
import { isIgnoredBuffer, qlipSpecs } from './specs.js';

/** Bottleneck features of `encodeFeatures` (all `[B, N, ...]`, tokens row-major over the grid). */
export interface EncodedFeatures {
  /** `[B, N, L]` quantizer input: quant_embed(patch tokens), L2-normalised when `quantizer_l2_norm`. */
  preQuant: tf.Tensor3D;
  /** `[B, N, L]` BSQ codes, +-1/sqrt(L) (or +-1 without the quantizer's l2_norm). */
  quantized: tf.Tensor3D;
  /** `[B, N, hidden_size_post_q]` decoder input (quant_embed_post of the codes). */
  postQuant: tf.Tensor3D;
}

/** What stage-1 training differentiates (see `QLIPModel.stage1Outputs`). */
export interface Stage1Outputs {
  /** `[B, 3, S, S]` decoded pixels (CLIP-normalised space). */
  reconstruction: tf.Tensor4D;
  /** `[B, N, L]` quantizer input. */
  z: tf.Tensor3D;
  /** `[B, P]` unnormalised. */
  imageEmbeddings: tf.Tensor2D;
  /** `[B, P]` unnormalised. */
  textEmbeddings: tf.Tensor2D;
  /** The learnable `logit_scale` variable. */
  logitScale: tf.Scalar;
}

/** Token indices of a batch of images. */
export interface TokenIndices {
  /** `[B, N]` row-major, N = grid[0] * grid[1]; MSB-first bit packing (channel 0 is the most significant bit). */
  indices: Uint32Array;
  /** Token grid `[rows, cols]`. */
  grid: [number, number];
  batch: number;
}

/**
 * NVIDIA QLIP (visual tokenizer + CLIP text tower) on TensorFlow.js, numerically matching the official
 * PyTorch code, with the official Hugging Face checkpoint layout (`config.json` + `model.safetensors`).
 *
 * Pixels are `[B, 3, image_size, image_size]` float32 in CLIP-normalised space ((x/255 - mean) / std);
 * decoded pixels come back in the same space, not clamped. Every method returning tensors hands ownership
 * to the caller (dispose them, or call inside `tf.tidy`). Parameters are tf.Variables in `params`, keyed by
 * official names (Linear weights stored `[in, out]`; see `Params` in @qlip/nn).
 */
export class QLIPModel {
  private constructor(
    /** The validated config, defaults filled in (saved back as config.json). */
    readonly config: QLIPConfig,
    /** Parameters by official name. */
    readonly params: Params,
  ) {}

  /** A randomly initialised model (trunc-normal 0.02 Linear weights, zero biases, LN ones/zeros), reproducible per seed. */
  static create(config: QLIPConfigInput, seed = 0): QLIPModel {
    const cfg = parseQLIPConfig(config, 'config');
    return new QLIPModel(cfg, initParams(qlipSpecs(cfg), new Rng(seed)));
  }

  /**
   * Wrap existing parameters (e.g. from a trainer) after checking that they are exactly the config's
   * parameters in storage layout; the model takes ownership (`dispose` frees them).
   */
  static fromParams(config: QLIPConfigInput, params: Params): QLIPModel {
    const cfg = parseQLIPConfig(config, 'config');
    const specs = qlipSpecs(cfg);
    const problems: string[] = [];
    for (const s of specs) {
      const v = params.get(s.name);
      const want = storageShape(s);
      if (!v) problems.push(`missing parameter "${s.name}" (storage shape [${want}])`);
      else if (specMismatch(v, { shape: want })) {
        problems.push(`parameter "${s.name}" has shape [${v.shape}], expected [${want}] (storage layout)`);
      }
    }
    const names = new Set(specs.map((s) => s.name));
    for (const name of params.keys()) if (!names.has(name)) problems.push(`unexpected parameter "${name}"`);
    if (problems.length)
      throw new Error(`QLIPModel.fromParams: parameters do not match the config:\n${problems.join('\n')}`);
    return new QLIPModel(cfg, params);
  }

  /**
   * Load a Hugging Face QLIP directory: `config.json` and `model.safetensors`, or the shards of
   * `model.safetensors.index.json` (preferred when both exist; see `openCheckpoint` in @qlip/core). F16/BF16 weights are widened to float32. Rope buffers
   * (`*.rope.freqs_cos/sin`) and `position_ids` are ignored (recomputed). Any missing, unexpected or
   * mis-shaped tensor fails before data is read, with every problem listed (file, tensor, shapes).
   * Linear weights are transposed to `[in, out]` and the patch-embedding conv to `[3*p*p, D]` on load.
   */
  static async load(dir: string): Promise<QLIPModel> {
    const config = await readQLIPConfig(join(dir, CONFIG_NAME));
    const ckpt = await openCheckpoint(dir);
    try {
      return new QLIPModel(config, await loadParams(ckpt, qlipSpecs(config), dir));
    } finally {
      await ckpt.close();
    }
  }

  /**
   * Overwrite every parameter whose name and official shape match a float tensor of the checkpoint in `dir`
   * (e.g. a CLIP-style Hugging Face checkpoint: vision and text towers, projections); the others keep their
   * current values. Returns what was loaded, what was not found (or had another shape or dtype) and the
   * checkpoint's tensors that were not used.
   */
  async loadMatching(dir: string): Promise<{ loaded: string[]; missing: string[]; unused: string[] }> {
    const report = { loaded: [] as string[], missing: [] as string[], unused: [] as string[] };
    const ckpt = await openCheckpoint(dir);
    try {
      for (const spec of qlipSpecs(this.config)) {
        const entry = ckpt.entries.get(spec.name);
        if (!entry || specMismatch(entry, { shape: spec.shape, float: true })) {
          report.missing.push(spec.name);
          continue;
        }
        const floats = toFloat32(await ckpt.read(spec.name));
        checkFinite(spec.name, floats, dir);
        const values = toStorage(spec, floats);
        const variable = this.params.get(spec.name)!;
        tf.tidy(() => variable.assign(tf.tensor(values, storageShape(spec), 'float32')));
        report.loaded.push(spec.name);
      }
      const used = new Set(report.loaded);
      for (const name of ckpt.names())
        if (!used.has(name) && !isIgnoredBuffer(name)) report.unused.push(name);
    } finally {
      await ckpt.close();
    }
    return report;
  }

  /**
   * Write `config.json` and `model.safetensors` (official names and layouts, `format: pt` metadata) into
   * `dir`, creating it. `dtype` F16/BF16 halves the file (e.g. a checkpoint shipped in a repository); the
   * default F32 keeps every bit. Tensors are read back from the backend one at a time; the file is written
   * atomically (temp file + rename).
   */
  async save(dir: string, opts: { dtype?: 'F32' | 'F16' | 'BF16' } = {}): Promise<void> {
    const dtype = opts.dtype ?? 'F32';
    await mkdir(dir, { recursive: true });
    // torch_dtype tells HF loaders what the weights hold; loading (here and in PyTorch) widens F16/BF16 as asked.
    const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
    // An F32 save of a config without torch_dtype stays byte-identical to the original config.json.
    const marked =
      dtype !== 'F32' || 'torch_dtype' in this.config
        ? { ...this.config, torch_dtype: torchDtype }
        : this.config;
    await writeFileAtomic(join(dir, CONFIG_NAME), [`${JSON.stringify(marked, null, 2)}\n`]);
    // Lazy tensors: each is read back from the backend (and transposed to the official layout) only when the
    // writer reaches it, so the model never exists twice in host memory.
    const tensors = new Map(
      qlipSpecs(this.config).map((s) => [
        s.name,
        {
          dtype,
          shape: s.shape,
          data: async () => {
            const f32 = fromStorage(s, (await param(this.params, s.name).data()) as Float32Array);
            return dtype === 'F16' ? f32ToF16Bits(f32) : dtype === 'BF16' ? f32ToBf16Bits(f32) : f32;
          },
        },
      ]),
    );
    // HF transformers refuses safetensors files whose metadata lacks format "pt".
    await writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt' });
  }

  /** Free every parameter. The model is unusable afterwards. */
  dispose(): void {
    disposeParams(this.params);
  }

  // ---- geometry -------------------------------------------------------------------------------------------

  get visionConfig(): VisionConfig {
    return this.config.vision_config;
  }
  get decoderConfig(): DecoderConfig {
    return this.config.decoder_config;
  }
  get textConfig(): TextConfig {
    return this.config.text_config;
  }
  /** Input/output image side in pixels. */
  get imageSize(): number {
    return this.config.vision_config.image_size;
  }
  get patchSize(): number {
    return this.config.vision_config.patch_size;
  }
  /** Token grid `[rows, cols]`. */
  get grid(): [number, number] {
    const g = this.imageSize / this.patchSize;
    return [g, g];
  }
  /** Tokens per image (N). */
  get tokensPerImage(): number {
    return (this.imageSize / this.patchSize) ** 2;
  }
  /** Bits per token (L = quantizer_cfg.embed_dim). */
  get bits(): number {
    const v = this.config.vision_config;
    return v.quantizer_embed_type === 'mlp' || v.quantizer === 'bsq'
      ? v.quantizer_cfg.embed_dim
      : v.hidden_size;
  }
  /** Bits per group index (quantizer_cfg.group_size). */
  get groupSize(): number {
    return this.config.vision_config.quantizer_cfg.group_size;
  }
  /** Total number of parameter values. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  // ---- tokenizer ------------------------------------------------------------------------------------------

  /** Pixels -> bottleneck features (pre-quantisation, codes, decoder input). */
  encodeFeatures(pixels: tf.Tensor4D): EncodedFeatures {
    return tf.tidy(() => {
      const v = this.config.vision_config;
      const { patchTokens } = visionEncoder(this.params, v, pixels);
      const preQuant = quantEmbed(this.params, v, patchTokens);
      const quantized = quantize(v, preQuant) as tf.Tensor3D;
      return { preQuant, quantized, postQuant: quantEmbedPost(this.params, v, quantized) };
    }) as unknown as EncodedFeatures;
  }

  /** Pixels -> `[B, N, L]` pre-quantisation features (the quantizer input; its signs are the bits). */
  private preQuant(pixels: tf.Tensor4D): tf.Tensor3D {
    this.requireQuantizer('encode to indices');
    return tf.tidy(() => {
      const v = this.config.vision_config;
      return quantEmbed(this.params, v, visionEncoder(this.params, v, pixels).patchTokens);
    });
  }

  /**
   * Pixels -> `[B, N, L]` quantised codes (the decoder's input before quant_embed_post): the frozen half of
   * stage-2 training, run outside any gradient tape.
   */
  encodeCodes(pixels: tf.Tensor4D): tf.Tensor3D {
    const v = this.config.vision_config;
    return tf.tidy(
      () =>
        quantize(
          v,
          quantEmbed(this.params, v, visionEncoder(this.params, v, pixels).patchTokens),
        ) as tf.Tensor3D,
    );
  }

  /** Pixels -> one uint32 index per token (L <= 32; use `encodeToGroupIndices` beyond). */
  async encodeToIndices(pixels: tf.Tensor4D): Promise<TokenIndices> {
    const l = this.bits;
    if (l > MAX_INDEX_BITS) {
      throw new Error(
        `encodeToIndices: ${l} bits per token do not fit a uint32 index; use encodeToGroupIndices`,
      );
    }
    const z = this.preQuant(pixels);
    const data = await z.data();
    z.dispose();
    return { indices: codesToIndices(data, l), grid: this.grid, batch: pixels.shape[0] };
  }

  /** Pixels -> `[B, N, L/group_size]` group indices (group 0 = the most significant bits). */
  async encodeToGroupIndices(pixels: tf.Tensor4D): Promise<TokenIndices & { groups: number }> {
    const z = this.preQuant(pixels);
    const data = await z.data();
    z.dispose();
    const groups = this.bits / this.groupSize;
    return {
      indices: codesToGroupIndices(data, this.bits, this.groupSize),
      grid: this.grid,
      batch: pixels.shape[0],
      groups,
    };
  }

  /** `[B, N, L]` codes (as produced by the quantizer) -> pixels `[B, 3, H, W]` (CLIP-normalised, unclamped). */
  decodeCodes(codes: tf.Tensor3D): tf.Tensor4D {
    return tf.tidy(() => {
      const [, n, l] = codes.shape;
      if (codes.rank !== 3 || n !== this.tokensPerImage || l !== this.bits) {
        throw new Error(
          `decodeCodes: codes must be [B, ${this.tokensPerImage}, ${this.bits}] (got [${codes.shape}])`,
        );
      }
      return decoder(
        this.params,
        this.config.decoder_config,
        quantEmbedPost(this.params, this.config.vision_config, codes),
      );
    });
  }

  /** `[B * N]` token indices (row-major per image) -> pixels `[B, 3, H, W]`. */
  decodeIndices(indices: ArrayLike<number>): tf.Tensor4D {
    this.requireQuantizer('decode indices');
    const n = this.tokensPerImage;
    if (indices.length === 0 || indices.length % n !== 0) {
      throw new Error(
        `decodeIndices: got ${indices.length} indices, expected a multiple of ${n} tokens per image`,
      );
    }
    const l = this.bits;
    const signs = indicesToCodes(indices, l, 1); // [B*N, L] of +-1
    return tf.tidy(() => {
      // Same scaling op as the quantizer, so decodeIndices(encodeToIndices(x)) == reconstruct(x) bit for bit.
      const codes = hardCodes(
        tf.tensor3d(signs, [indices.length / n, n, l]),
        this.config.vision_config.quantizer_cfg.l2_norm,
      );
      return this.decodeCodes(codes as tf.Tensor3D);
    });
  }

  /** Pixels -> quantise -> decode, `[B, 3, H, W]` (QLIPModel.forward's `reconstructions`). */
  reconstruct(pixels: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() =>
      decoder(this.params, this.config.decoder_config, this.encodeFeatures(pixels).postQuant),
    );
  }

  // ---- training ------------------------------------------------------------------------------------------

  /**
   * One stage-1 forward pass with gradients flowing to `params`: the vision tower runs once for both the
   * bottleneck path and the pooled image embedding. Call inside `tf.variableGrads` (or a tidy).
   * @param pixels `[B, 3, S, S]` CLIP-normalised
   * @param ids `[B * ctx]` token ids of one caption per image
   */
  stage1Outputs(pixels: tf.Tensor4D, ids: Int32Array, contextLength: number): Stage1Outputs {
    const p = this.params;
    const v = this.config.vision_config;
    const { patchTokens, pooled } = visionEncoder(p, v, pixels);
    const z = quantEmbed(p, v, patchTokens); // [B, N, L]
    const reconstruction = decoder(p, this.config.decoder_config, quantEmbedPost(p, v, quantize(v, z))); // [B, 3, S, S]
    const text = textTransformer(p, this.config.text_config, ids, [pixels.shape[0], contextLength]).pooled; // [B, Dt]
    return {
      reconstruction,
      z,
      imageEmbeddings: linear(p, 'visual_projection', pooled) as tf.Tensor2D,
      textEmbeddings: linear(p, 'text_projection', text) as tf.Tensor2D,
      logitScale: param(p, 'logit_scale') as unknown as tf.Scalar,
    };
  }

  /** The BSQ loss settings of this model's `quantizer_cfg` (QLIP uses zeta = 1). */
  bsqLossOptions(): BsqLossOptions {
    const q = this.config.vision_config.quantizer_cfg;
    return {
      groupSize: q.group_size,
      invTemperature: q.inv_temperature,
      l2Norm: q.l2_norm,
      mode: q.persample_entropy_compute,
      beta: q.beta,
      gamma0: q.gamma_0,
      gamma1: q.gamma_1,
      zeta: 1,
    };
  }

  // ---- contrastive embeddings -----------------------------------------------------------------------------

  /** Pixels -> `[B, projection_dim]` image embeddings (get_image_features; L2-normalised if asked). */
  imageEmbeddings(pixels: tf.Tensor4D, opts: { normalize?: boolean } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const { pooled } = visionEncoder(this.params, this.config.vision_config, pixels);
      const e = linear(this.params, 'visual_projection', pooled);
      return (opts.normalize ? l2Normalize(e) : e) as tf.Tensor2D;
    });
  }

  /**
   * Token ids `[P, ctx]` (row-major; ctx defaults to max_position_embeddings) -> `[P, projection_dim]` text
   * embeddings (get_text_features, pooled at the first eos; L2-normalised if asked).
   */
  textEmbeddings(
    inputIds: Int32Array,
    opts: { contextLength?: number; normalize?: boolean } = {},
  ): tf.Tensor2D {
    const ctx = opts.contextLength ?? this.config.text_config.max_position_embeddings;
    if (inputIds.length === 0 || inputIds.length % ctx !== 0) {
      throw new Error(
        `textEmbeddings: ${inputIds.length} ids are not a whole number of prompts of ${ctx} tokens`,
      );
    }
    return tf.tidy(() => {
      const { pooled } = textTransformer(this.params, this.config.text_config, inputIds, [
        inputIds.length / ctx,
        ctx,
      ]);
      const e = linear(this.params, 'text_projection', pooled);
      return (opts.normalize ? l2Normalize(e) : e) as tf.Tensor2D;
    });
  }

  /** `[B, P]` logits_per_image = exp(logit_scale) * cos(image_b, text_p). */
  logits(pixels: tf.Tensor4D, inputIds: Int32Array, opts: { contextLength?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const img = this.imageEmbeddings(pixels, { normalize: true });
      const txt = this.textEmbeddings(inputIds, { ...opts, normalize: true });
      const sim = tf.matMul(img, tf.transpose(txt)); // [B, P]
      return tf.mul(sim, tf.exp(param(this.params, 'logit_scale'))) as tf.Tensor2D;
    });
  }

  private requireQuantizer(what: string): void {
    if (this.config.vision_config.quantizer !== 'bsq') {
      throw new Error(
        `cannot ${what}: vision_config.quantizer is "${this.config.vision_config.quantizer}", not "bsq"`,
      );
    }
  }
}
