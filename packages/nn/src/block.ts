import * as tf from '@tensorflow/tfjs-core';
import { type AttentionConfig, type AttentionOptions, attention, attentionSpecs } from './attention.js';
import { layerNorm } from './layers.js';
import { type MlpConfig, mlp, mlpSpecs } from './mlp.js';
import { layerNormSpecs, type ParamSpec, type Params } from './params.js';

/** Everything a QLIP encoder layer reads from an official sub-config. */
export interface BlockConfig extends AttentionConfig, MlpConfig {
  num_hidden_layers: number;
}

/** Specs of one pre-LN layer `prefix` (= `...encoder.layers.i`), official order. */
export function blockSpecs(prefix: string, cfg: BlockConfig): ParamSpec[] {
  return [
    ...attentionSpecs(`${prefix}.self_attn`, cfg),
    ...layerNormSpecs(`${prefix}.layer_norm1`, cfg.hidden_size),
    ...mlpSpecs(`${prefix}.mlp`, cfg),
    ...layerNormSpecs(`${prefix}.layer_norm2`, cfg.hidden_size),
  ];
}

/** Specs of a layer stack `prefix` (= `vision_model.encoder`): `prefix.layers.0 ...`. */
export function encoderSpecs(prefix: string, cfg: BlockConfig): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (let i = 0; i < cfg.num_hidden_layers; i++) specs.push(...blockSpecs(`${prefix}.layers.${i}`, cfg));
  return specs;
}

/**
 * One pre-LN layer: `x += attn(LN1(x)); x += mlp(LN2(x))`.
 * @param x `[B, T, D]` -> `[B, T, D]`
 */
export function block(
  params: Params,
  prefix: string,
  cfg: BlockConfig,
  x: tf.Tensor,
  opts: AttentionOptions = {},
): tf.Tensor {
  return tf.tidy(() => {
    const eps = cfg.layer_norm_eps;
    const h = tf.add(
      x,
      attention(params, `${prefix}.self_attn`, cfg, layerNorm(params, `${prefix}.layer_norm1`, x, eps), opts),
    );
    return tf.add(h, mlp(params, `${prefix}.mlp`, cfg, layerNorm(params, `${prefix}.layer_norm2`, h, eps)));
  });
}

/** Output of `encoder`. */
export interface EncoderOutput {
  /** `[B, T, D]` output of the last layer (no final LayerNorm). */
  lastHiddenState: tf.Tensor;
  /** With `outputHiddenStates`: the input and every layer's output, `num_hidden_layers + 1` tensors `[B, T, D]`. */
  hiddenStates?: tf.Tensor[];
}

/**
 * The layer stack (QLIPEncoder). Hidden states follow HF's `output_hidden_states`: [input, after layer 1, ...].
 * @param x `[B, T, D]`
 */
export function encoder(
  params: Params,
  prefix: string,
  cfg: BlockConfig,
  x: tf.Tensor,
  opts: AttentionOptions & { outputHiddenStates?: boolean } = {},
): EncoderOutput {
  return tf.tidy(() => {
    const states: tf.Tensor[] = [x];
    let h = x;
    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      h = block(params, `${prefix}.layers.${i}`, cfg, h, opts);
      if (opts.outputHiddenStates) states.push(h);
    }
    if (!opts.outputHiddenStates) return { lastHiddenState: h };
    // The input belongs to the caller; hand back a copy so the caller may dispose either independently.
    states[0] = tf.clone(x);
    return { lastHiddenState: h, hiddenStates: states };
  });
}
