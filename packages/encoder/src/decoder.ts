import {
  encoder,
  encoderSpecs,
  layerNorm,
  layerNormSpecs,
  linear,
  linearSpecs,
  type ParamSpec,
  type Params,
  param,
  ropeTables,
  ropeTensors,
  TRUNC_NORMAL_002,
} from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { type DecoderConfig, gridSize } from './config.js';
import { unpatchify } from './patches.js';

/** Default parameter prefix of the pixel decoder in a QLIPModel checkpoint. */
export const DECODER_PREFIX = 'vision_decoder';

/** Specs of the decoder, official order (`position_embeddings`, `norm`, layers, `ffn.0`, `conv_out`). */
export function decoderSpecs(cfg: DecoderConfig, prefix = DECODER_PREFIX): ParamSpec[] {
  const d = cfg.hidden_size;
  const n = gridSize(cfg) ** 2;
  return [
    { name: `${prefix}.position_embeddings`, shape: [1, n, d], layout: 'plain', init: TRUNC_NORMAL_002 },
    ...layerNormSpecs(`${prefix}.norm`, d),
    ...encoderSpecs(`${prefix}.encoder`, cfg),
    ...linearSpecs(`${prefix}.ffn.0`, d, cfg.intermediate_size),
    ...linearSpecs(`${prefix}.conv_out`, cfg.intermediate_size, cfg.num_channels * cfg.patch_size ** 2),
  ];
}

/**
 * ViT pixel decoder: positions + latents, pre-LN layers (rope on every token when `cfg.rope`), LayerNorm,
 * Linear + Tanh, Linear to C*p*p (`conv_out`), unpatchify. Output is in CLIP-normalised pixel space,
 * not clamped.
 * @param latents `[B, N, D]` -> `[B, C, H, W]`
 */
export function decoder(
  params: Params,
  cfg: DecoderConfig,
  latents: tf.Tensor,
  prefix = DECODER_PREFIX,
): tf.Tensor4D {
  return tf.tidy(() => {
    const g = gridSize(cfg);
    const [, n, d] = latents.shape as number[];
    if (latents.rank !== 3 || n !== g * g || d !== cfg.hidden_size) {
      throw new Error(`decoder: latents must be [B, ${g * g}, ${cfg.hidden_size}] (got [${latents.shape}])`);
    }
    const x = tf.add(latents, param(params, `${prefix}.position_embeddings`)); // [B, N, D]
    const rope = cfg.rope
      ? ropeTensors(ropeTables({ grid: g, headDim: cfg.hidden_size / cfg.num_attention_heads }), 0)
      : undefined;
    const h = encoder(params, `${prefix}.encoder`, cfg, x, { rope }).lastHiddenState;
    const normed = layerNorm(params, `${prefix}.norm`, h, cfg.layer_norm_eps);
    const recon = linear(params, `${prefix}.conv_out`, tf.tanh(linear(params, `${prefix}.ffn.0`, normed))); // [B, N, C*p*p]
    return unpatchify(recon, cfg.patch_size, g, g);
  });
}
