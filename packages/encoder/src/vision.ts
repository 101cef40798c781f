import {
  encoder,
  encoderSpecs,
  layerNorm,
  layerNormSpecs,
  linear,
  type ParamSpec,
  type Params,
  param,
  ropeTables,
  ropeTensors,
  TRUNC_NORMAL_002,
  ZEROS,
} from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { gridSize, type VisionConfig } from './config.js';
import { patchify } from './patches.js';

/** Default parameter prefix of the vision tower in a QLIPModel checkpoint. */
export const VISION_PREFIX = 'vision_model';

/**
 * Specs of the vision transformer proper (embeddings, layers, post_layernorm), official order.
 * The bottleneck's `quant_embed`/`quant_embed_post` are in `bottleneckSpecs`.
 */
export function visionSpecs(cfg: VisionConfig, prefix = VISION_PREFIX): ParamSpec[] {
  const d = cfg.hidden_size;
  const p = cfg.patch_size;
  const n = gridSize(cfg) ** 2;
  return [
    {
      name: `${prefix}.embeddings.class_embedding`,
      shape: [d],
      layout: 'plain',
      init: { kind: 'normal', std: d ** -0.5 },
    },
    {
      name: `${prefix}.embeddings.patch_embedding.weight`,
      shape: [d, cfg.num_channels, p, p],
      layout: 'patch',
      init: TRUNC_NORMAL_002,
    },
    { name: `${prefix}.embeddings.patch_embedding.bias`, shape: [d], layout: 'plain', init: ZEROS },
    {
      name: `${prefix}.embeddings.position_embedding.weight`,
      shape: [n + 1, d],
      layout: 'plain',
      init: { kind: 'normal', std: 0.02 },
    },
    ...encoderSpecs(`${prefix}.encoder`, cfg),
    ...layerNormSpecs(`${prefix}.post_layernorm`, d),
  ];
}

/** Outputs of `visionEncoder`. */
// A type alias (not an interface) so tf.tidy accepts it as a TensorContainer.
export type VisionOutput = {
  /** `[B, N+1, D]` last layer output, CLS first (no LayerNorm). */
  lastHiddenState: tf.Tensor3D;
  /** `[B, N, D]` patch tokens of the last layer: the bottleneck input. */
  patchTokens: tf.Tensor3D;
  /** `[B, D]` post_layernorm(CLS): the input of `visual_projection`. */
  pooled: tf.Tensor2D;
  /** With `outputHiddenStates`: embeddings and every layer's output, each `[B, N+1, D]`. */
  hiddenStates?: tf.Tensor3D[];
};

/**
 * Patch + CLS + learned position embeddings (no pre-LayerNorm).
 * @param pixels `[B, C, H, W]`, H = W = image_size -> `[B, N+1, D]`
 */
export function visionEmbeddings(
  params: Params,
  cfg: VisionConfig,
  pixels: tf.Tensor,
  prefix = VISION_PREFIX,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, c, h, w] = pixels.shape as number[];
    if (pixels.rank !== 4 || c !== cfg.num_channels || h !== cfg.image_size || w !== cfg.image_size) {
      throw new Error(
        `vision encoder: pixels must be [B, ${cfg.num_channels}, ${cfg.image_size}, ${cfg.image_size}] (got [${pixels.shape}])`,
      );
    }
    const patches = linear(params, `${prefix}.embeddings.patch_embedding`, patchify(pixels, cfg.patch_size)); // [B, N, D]
    const d = cfg.hidden_size;
    const cls = tf.tile(tf.reshape(param(params, `${prefix}.embeddings.class_embedding`), [1, 1, d]), [
      b!,
      1,
      1,
    ]); // [B, 1, D]
    const tokens = tf.concat([cls, patches], 1); // [B, N+1, D]
    return tf.add(tokens, param(params, `${prefix}.embeddings.position_embedding.weight`)) as tf.Tensor3D;
  });
}

/**
 * The vision tower up to the bottleneck: embeddings, pre-LN layers (2-D rope with CLS unrotated when
 * `cfg.rope`), then CLS -> post_layernorm and the raw patch tokens.
 * @param pixels `[B, C, H, W]` in CLIP-normalised space
 */
export function visionEncoder(
  params: Params,
  cfg: VisionConfig,
  pixels: tf.Tensor,
  opts: { outputHiddenStates?: boolean; prefix?: string } = {},
): VisionOutput {
  const prefix = opts.prefix ?? VISION_PREFIX;
  return tf.tidy(() => {
    const x = visionEmbeddings(params, cfg, pixels, prefix);
    const rope = cfg.rope
      ? ropeTensors(
          ropeTables({ grid: gridSize(cfg), headDim: cfg.hidden_size / cfg.num_attention_heads }),
          1,
        )
      : undefined;
    const enc = encoder(params, `${prefix}.encoder`, cfg, x, {
      rope,
      outputHiddenStates: opts.outputHiddenStates,
    });
    const last = enc.lastHiddenState as tf.Tensor3D;
    const [b, t, d] = last.shape;
    const cls = tf.reshape(tf.slice(last, [0, 0, 0], [b, 1, d]), [b, d]); // [B, D]
    const out: VisionOutput = {
      lastHiddenState: last,
      patchTokens: tf.slice(last, [0, 1, 0], [b, t - 1, d]), // [B, N, D]
      pooled: layerNorm(params, `${prefix}.post_layernorm`, cls, cfg.layer_norm_eps) as tf.Tensor2D,
    };
    if (enc.hiddenStates) out.hiddenStates = enc.hiddenStates as tf.Tensor3D[];
    return out;
  });
}
