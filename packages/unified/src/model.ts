import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { f32ToF16Bits, openCheckpoint, Rng, SINGLE_FILE, writeSafetensors } from '@qlip/core';
import { loadParams } from '@qlip/model';
import {
  type BlockConfig,
  blockSpecs,
  disposeParams,
  fromStorage,
  initParams,
  layerNorm,
  layerNormSpecs,
  linear,
  linearSpecs,
  mlp,
  type ParamSpec,
  type Params,
  param,
  scaledDotProductAttention,
} from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { headShape, parseUnifiedConfig, type UnifiedConfig, type UnifiedConfigInput } from './config.js';
import type { SequenceBatch } from './sequence.js';
import { SPECIALS } from './vocab.js';

export const CONFIG_FILE = 'config.json';

/** The nn block config of the unified transformer (pre-LN, biases everywhere, plain MLP); the ONNX export builds the same blocks. */
export function blockConfig(c: UnifiedConfig): BlockConfig {
  return {
    hidden_size: c.hidden_size,
    num_attention_heads: c.num_attention_heads,
    num_hidden_layers: c.num_hidden_layers,
    intermediate_size: c.intermediate_size,
    hidden_act: c.hidden_act,
    layer_norm_eps: c.layer_norm_eps,
    q_bias: true,
    k_bias: true,
    v_bias: true,
    subln: false,
    swiglu: false,
  };
}

/** Text vocabulary size (specials + CLIP ids). */
export const vocabSize = (c: UnifiedConfig) => SPECIALS.length + c.clip_ids.length;

/** Width of the image head's output: G * 2^g for groups, L for per-bit logits. */
export function imageHeadWidth(c: UnifiedConfig): number {
  const { groups, groupBits } = headShape(c);
  return c.image_head.kind === 'bits' ? c.image_bits : groups * 2 ** groupBits;
}

/** Every parameter, in a fixed order (init draws from one seeded stream in this order). */
export function unifiedSpecs(c: UnifiedConfig): ParamSpec[] {
  const d = c.hidden_size;
  const emb = (name: string, rows: number): ParamSpec => ({
    name,
    shape: [rows, d],
    layout: 'plain',
    init: { kind: 'trunc_normal', std: 0.02 },
  });
  const bc = blockConfig(c);
  const specs: ParamSpec[] = [
    emb('embed_tokens.weight', vocabSize(c)),
    emb('embed_positions.weight', c.max_position_embeddings),
    ...linearSpecs('image_in', c.image_bits, d),
    emb('image_rows.weight', c.image_grid[0]),
    emb('image_cols.weight', c.image_grid[1]),
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) specs.push(...blockSpecs(`layers.${i}`, bc));
  specs.push(
    ...layerNormSpecs('final_layer_norm', d),
    ...linearSpecs('text_head', d, vocabSize(c)),
    ...linearSpecs('image_head', d, imageHeadWidth(c)),
  );
  return specs;
}

/** Keys and values of one layer so far: `[B, S, D]` each, heads side by side (the projections' layout). */
export interface LayerCache {
  k: tf.Tensor3D;
  v: tf.Tensor3D;
}

/** Inputs of a forward pass over `T` positions starting at absolute position `offset`. */
export interface StepInputs {
  batch: number;
  length: number;
  /** `[B, T]` */
  ids: Int32Array;
  /** `[B, T, L]` */
  bits: Float32Array;
  /** `[B, T]` */
  isImage: Float32Array;
  rows: Int32Array;
  cols: Int32Array;
}

/**
 * The unified decoder-only transformer. Parameters live in an nn `Params` map (Linear weights stored
 * `[in, out]`); `forward` runs T positions with optional past keys/values and returns the new ones.
 */
export class UnifiedModel {
  private constructor(
    readonly config: UnifiedConfig,
    readonly params: Params,
  ) {}

  static create(input: UnifiedConfigInput, seed = 0): UnifiedModel {
    const config = parseUnifiedConfig(input);
    return new UnifiedModel(config, initParams(unifiedSpecs(config), new Rng(seed)));
  }

  /** Read `dir/config.json` + `dir/model.safetensors` (F16 widened to F32); errors name the file. */
  static async load(dir: string): Promise<UnifiedModel> {
    const path = join(dir, CONFIG_FILE);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      throw new Error(
        `${path}: not a unified model (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const { torch_dtype: _dtype, ...rest } = raw as Record<string, unknown>;
    const config = parseUnifiedConfig(rest, path);
    const ckpt = await openCheckpoint(dir);
    try {
      return new UnifiedModel(config, await loadParams(ckpt, unifiedSpecs(config)));
    } finally {
      await ckpt.close();
    }
  }

  /** Write config.json + model.safetensors (F32 by default: bit-exact resume; F16 for shipping). */
  async save(dir: string, opts: { dtype?: 'F32' | 'F16' } = {}): Promise<void> {
    const dtype = opts.dtype ?? 'F32';
    await mkdir(dir, { recursive: true });
    const cfg = { ...this.config, torch_dtype: dtype === 'F16' ? 'float16' : 'float32' };
    await writeFile(join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
    const tensors = new Map(
      unifiedSpecs(this.config).map((s) => [
        s.name,
        {
          dtype,
          shape: s.shape,
          data: async () => {
            const f32 = fromStorage(s, (await param(this.params, s.name).data()) as Float32Array);
            return dtype === 'F16' ? f32ToF16Bits(f32) : f32;
          },
        },
      ]),
    );
    await writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt' });
  }

  dispose(): void {
    disposeParams(this.params);
  }

  parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** Input embeddings `[B, T, D]`: text table or Linear(+-1 bits) + grid rows/cols, plus 1-D positions. */
  embed(x: StepInputs, offset: number): tf.Tensor3D {
    const c = this.config;
    const { batch: b, length: t } = x;
    if (offset + t > c.max_position_embeddings)
      throw new Error(
        `sequence of ${offset + t} positions exceeds max_position_embeddings ${c.max_position_embeddings}`,
      );
    return tf.tidy(() => {
      const p = this.params;
      const ids = tf.tensor2d(x.ids, [b, t], 'int32');
      const tok = tf.gather(param(p, 'embed_tokens.weight'), ids); // [B, T, D]
      const bits = tf.tensor3d(x.bits, [b, t, c.image_bits]);
      const img = tf.add(
        linear(p, 'image_in', bits),
        tf.add(
          tf.gather(param(p, 'image_rows.weight'), tf.tensor2d(x.rows, [b, t], 'int32')),
          tf.gather(param(p, 'image_cols.weight'), tf.tensor2d(x.cols, [b, t], 'int32')),
        ),
      ); // [B, T, D]
      const m = tf.tensor3d(x.isImage, [b, t, 1]);
      const pos = tf.slice(param(p, 'embed_positions.weight'), [offset, 0], [t, c.hidden_size]); // [T, D]
      return tf.add(tf.add(tf.mul(tok, tf.sub(1, m)), tf.mul(img, m)), pos) as tf.Tensor3D;
    });
  }

  /**
   * Transformer over `x` `[B, T, D]` with the past of every layer (or none): causal within the new
   * positions, full attention to the past. Returns the final-LayerNormed hidden states and the caches.
   */
  forward(
    x: tf.Tensor3D,
    past?: LayerCache[],
    keepCache = true,
  ): { hidden: tf.Tensor3D; cache: LayerCache[] } {
    const c = this.config;
    const cache: LayerCache[] = [];
    const hidden = tf.tidy(() => {
      let h: tf.Tensor = x;
      for (let i = 0; i < c.num_hidden_layers; i++) {
        const r = this.attention(
          i,
          layerNorm(this.params, `layers.${i}.layer_norm1`, h, c.layer_norm_eps),
          past?.[i],
        );
        h = tf.add(h, r.out);
        const ln2 = layerNorm(this.params, `layers.${i}.layer_norm2`, h, c.layer_norm_eps);
        h = tf.add(h, mlp(this.params, `layers.${i}.mlp`, blockConfig(c), ln2));
        // Training keeps no cache: k/v stay owned by the tape until the backward pass.
        if (keepCache) cache.push({ k: tf.keep(r.k), v: tf.keep(r.v) });
      }
      return layerNorm(this.params, 'final_layer_norm', h, c.layer_norm_eps) as tf.Tensor3D;
    });
    return { hidden, cache };
  }

  /** Self-attention of layer `i` on normed input `[B, T, D]`, with optional past keys/values `[B, S, D]`. */
  private attention(
    i: number,
    x: tf.Tensor,
    past?: LayerCache,
  ): { out: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D } {
    const d = x.shape[2]!;
    const h = this.config.num_attention_heads;
    const pre = `layers.${i}.self_attn`;
    const q = linear(this.params, `${pre}.q_proj`, x); // [B, T, D]
    let k = linear(this.params, `${pre}.k_proj`, x) as tf.Tensor3D; // [B, T, D]
    let v = linear(this.params, `${pre}.v_proj`, x) as tf.Tensor3D;
    if (past) {
      k = tf.concat([past.k, k], 1); // [B, S + T, D]
      v = tf.concat([past.v, v], 1);
    }
    // Causal within the new positions, every past key visible (the mask shifted by the past).
    const ctx = scaledDotProductAttention(q, k, v, { heads: h, scale: (d / h) ** -0.5, causal: true });
    const out = linear(this.params, `${pre}.out_proj`, ctx); // [B, T, D]
    return { out, k, v };
  }

  /** `[B, T, D]` -> text logits `[B, T, V]`. */
  textLogits(hidden: tf.Tensor): tf.Tensor {
    return linear(this.params, 'text_head', hidden);
  }

  /** `[B, T, D]` -> image logits `[B, T, G, 2^g]` (groups) or `[B, T, L]` (bits). */
  imageLogits(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = linear(this.params, 'image_head', hidden);
      if (this.config.image_head.kind === 'bits') return y;
      const { groups, groupBits } = headShape(this.config);
      return tf.reshape(y, [...hidden.shape.slice(0, -1), groups, 2 ** groupBits]);
    });
  }

  /** Teacher-forced losses of a packed batch: mean text NLL and mean image NLL (nats per token). */
  losses(batch: SequenceBatch): { total: tf.Scalar; text: tf.Scalar; image: tf.Scalar } {
    return tf.tidy(() => {
      const x = this.embed(batch, 0);
      const { hidden } = this.forward(x, undefined, false);
      const text = this.textLoss(hidden, batch);
      const image = this.imageLoss(hidden, batch);
      return { total: tf.add(text, image) as tf.Scalar, text, image };
    });
  }

  private textLoss(hidden: tf.Tensor3D, batch: SequenceBatch): tf.Scalar {
    const { batch: b, length: t } = batch;
    const v = vocabSize(this.config);
    const logp = tf.logSoftmax(this.textLogits(hidden)); // [B, T, V]
    const onehot = tf.oneHot(tf.tensor2d(batch.textTarget, [b, t], 'int32'), v); // [B, T, V]
    const nll = tf.neg(tf.sum(tf.mul(logp, onehot), -1)); // [B, T]
    return weightedMean(nll, batch.textWeight, [b, t]);
  }

  private imageLoss(hidden: tf.Tensor3D, batch: SequenceBatch): tf.Scalar {
    const { batch: b, length: t } = batch;
    const c = this.config;
    const logits = this.imageLogits(hidden);
    let nll: tf.Tensor; // [B, T]
    if (c.image_head.kind === 'bits') {
      const target = new Float32Array(b * t * c.image_bits);
      batch.imageTarget.forEach((code, p) => {
        for (let k = 0; k < c.image_bits; k++)
          target[p * c.image_bits + k] = Math.floor(code / 2 ** (c.image_bits - 1 - k)) % 2;
      });
      const ce = tf.losses.sigmoidCrossEntropy(
        tf.tensor3d(target, [b, t, c.image_bits]),
        logits,
        undefined,
        0,
        tf.Reduction.NONE,
      );
      nll = tf.sum(ce, -1);
    } else {
      const { groups, groupBits } = headShape(c);
      const g = new Int32Array(b * t * groups);
      batch.imageTarget.forEach((code, p) => {
        for (let j = 0; j < groups; j++)
          g[p * groups + j] = Math.floor(code / 2 ** ((groups - 1 - j) * groupBits)) % 2 ** groupBits;
      });
      const onehot = tf.oneHot(tf.tensor3d(g, [b, t, groups], 'int32'), 2 ** groupBits); // [B, T, G, K]
      nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), [-2, -1]));
    }
    return weightedMean(nll, batch.imageWeight, [b, t]);
  }
}

/** sum(x * w) / max(1, sum(w)) for `[B, T]` values and host weights. */
function weightedMean(x: tf.Tensor, w: Float32Array, shape: [number, number]): tf.Scalar {
  let n = 0;
  for (const v of w) n += v;
  return tf.div(tf.sum(tf.mul(x, tf.tensor2d(w, shape))), Math.max(1, n)) as tf.Scalar;
}
