import {
  type BlockConfig,
  encoder,
  encoderSpecs,
  layerNorm,
  layerNormSpecs,
  type ParamSpec,
  type Params,
  param,
} from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';

/** The fields of the official `text_config` the text transformer reads (rope/post_layernorm are ignored, as in the reference). */
export interface TextConfig extends BlockConfig {
  vocab_size: number;
  max_position_embeddings: number;
  /** Pooling token; 2 selects HF's legacy "argmax of the ids" rule, anything else the FIRST position of this id. */
  eos_token_id: number;
}

/** Default parameter prefix of the text tower in a QLIPModel checkpoint. */
export const TEXT_PREFIX = 'text_model';

/** Specs of the CLIP text transformer, official order. */
export function textSpecs(cfg: TextConfig, prefix = TEXT_PREFIX): ParamSpec[] {
  const d = cfg.hidden_size;
  return [
    {
      name: `${prefix}.embeddings.token_embedding.weight`,
      shape: [cfg.vocab_size, d],
      layout: 'plain',
      init: { kind: 'normal', std: 0.02 },
    },
    {
      name: `${prefix}.embeddings.position_embedding.weight`,
      shape: [cfg.max_position_embeddings, d],
      layout: 'plain',
      init: { kind: 'normal', std: 0.02 },
    },
    ...encoderSpecs(`${prefix}.encoder`, cfg),
    ...layerNormSpecs(`${prefix}.final_layer_norm`, d),
  ];
}

/**
 * Pooling position per prompt: the FIRST `eos_token_id` (0 when absent, like torch's argmax of all-false),
 * or, when `eos_token_id == 2`, the position of the largest id (HF's legacy rule).
 * @param ids `[P, ctx]` row-major -> `[P]`
 */
export function poolPositions(ids: Int32Array, prompts: number, ctx: number, eosTokenId: number): Int32Array {
  const out = new Int32Array(prompts);
  for (let p = 0; p < prompts; p++) {
    const row = ids.subarray(p * ctx, (p + 1) * ctx);
    let pos = 0;
    if (eosTokenId === 2) {
      for (let i = 1; i < ctx; i++) if (row[i]! > row[pos]!) pos = i;
    } else {
      const i = row.indexOf(eosTokenId);
      pos = Math.max(i, 0); // argmax of all-false is 0
    }
    out[p] = pos;
  }
  return out;
}

/** Outputs of `textTransformer`. A type alias so tf.tidy accepts it. */
export type TextOutput = {
  /** `[P, ctx, D]` final_layer_norm(last layer), every position. */
  lastHiddenState: tf.Tensor3D;
  /** `[P, D]` lastHiddenState at the pooling position: the input of `text_projection`. */
  pooled: tf.Tensor2D;
  /** With `outputHiddenStates`: embeddings and every layer's output (before final_layer_norm), `[P, ctx, D]`. */
  hiddenStates?: tf.Tensor3D[];
};

/**
 * CLIP text transformer: token + learned positions, causal pre-LN layers (mask finfo(float32).min), final LN,
 * pooled at the first EOS. No padding mask, like the reference called without `attention_mask`.
 * @param ids `[P, ctx]` token ids, row-major; ctx <= max_position_embeddings
 */
export function textTransformer(
  params: Params,
  cfg: TextConfig,
  ids: Int32Array,
  shape: [number, number],
  opts: { outputHiddenStates?: boolean; prefix?: string } = {},
): TextOutput {
  const prefix = opts.prefix ?? TEXT_PREFIX;
  const [prompts, ctx] = shape;
  if (ids.length !== prompts * ctx)
    throw new Error(`text model: ${ids.length} ids do not form [${prompts}, ${ctx}]`);
  if (ctx > cfg.max_position_embeddings || ctx < 1) {
    throw new Error(
      `text model: context length ${ctx} is outside [1, max_position_embeddings=${cfg.max_position_embeddings}]`,
    );
  }
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (v < 0 || v >= cfg.vocab_size) {
      throw new Error(
        `text model: token id ${v} at [${Math.floor(i / ctx)}, ${i % ctx}] is outside [0, vocab_size=${cfg.vocab_size})`,
      );
    }
  }
  const pos = poolPositions(ids, prompts, ctx, cfg.eos_token_id);
  return tf.tidy(() => {
    const d = cfg.hidden_size;
    const tok = tf.gather(
      param(params, `${prefix}.embeddings.token_embedding.weight`),
      tf.tensor1d(ids, 'int32'),
    ); // [P*ctx, D]
    const posEmb = tf.slice(
      param(params, `${prefix}.embeddings.position_embedding.weight`),
      [0, 0],
      [ctx, d],
    ); // [ctx, D]
    const x = tf.add(tf.reshape(tok, [prompts, ctx, d]), posEmb); // [P, ctx, D]
    const enc = encoder(params, `${prefix}.encoder`, cfg, x, {
      causal: true,
      outputHiddenStates: opts.outputHiddenStates,
    });
    const last = layerNorm(
      params,
      `${prefix}.final_layer_norm`,
      enc.lastHiddenState,
      cfg.layer_norm_eps,
    ) as tf.Tensor3D;
    const flatIdx = Int32Array.from(pos, (p, i) => i * ctx + p);
    const pooled = tf.gather(
      tf.reshape(last, [prompts * ctx, d]),
      tf.tensor1d(flatIdx, 'int32'),
    ) as tf.Tensor2D; // [P, D]
    const out: TextOutput = { lastHiddenState: last, pooled };
    if (enc.hiddenStates) out.hiddenStates = enc.hiddenStates as tf.Tensor3D[];
    return out;
  });
}
