import { bsqQuantize, l2Normalize } from '@qlip/bsq';
import { geluErf, linear, linearSpecs, type ParamSpec, type Params } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { bottleneckBits, type VisionConfig } from './config.js';
import { VISION_PREFIX } from './vision.js';

/** Specs of `quant_embed` and `quant_embed_post` (only with quantizer_embed_type "mlp"), official order. */
export function bottleneckSpecs(cfg: VisionConfig, prefix = VISION_PREFIX): ParamSpec[] {
  if (cfg.quantizer_embed_type !== 'mlp') return [];
  const d = cfg.hidden_size;
  const l = bottleneckBits(cfg);
  const post = cfg.hidden_size_post_q;
  return [
    ...linearSpecs(`${prefix}.quant_embed.c_fc`, d, d),
    ...linearSpecs(`${prefix}.quant_embed.c_proj`, d, l),
    ...linearSpecs(`${prefix}.quant_embed_post.c_fc`, l, post),
    ...linearSpecs(`${prefix}.quant_embed_post.c_proj`, post, post),
  ];
}

/** `c_proj(GELU_erf(c_fc(x)))`: the reference uses `nn.GELU()` here whatever `hidden_act` says. */
function embedMlp(params: Params, prefix: string, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => linear(params, `${prefix}.c_proj`, geluErf(linear(params, `${prefix}.c_fc`, x))));
}

/**
 * Patch tokens -> quantizer input: `quant_embed` (MLP or identity), then F.normalize when `quantizer_l2_norm`.
 * @param patchTokens `[B, N, D]` -> `[B, N, L]`
 */
export function quantEmbed(
  params: Params,
  cfg: VisionConfig,
  patchTokens: tf.Tensor,
  prefix = VISION_PREFIX,
): tf.Tensor3D {
  return tf.tidy(() => {
    const h =
      cfg.quantizer_embed_type === 'mlp'
        ? embedMlp(params, `${prefix}.quant_embed`, patchTokens)
        : tf.clone(patchTokens);
    return (cfg.quantizer_l2_norm ? l2Normalize(h) : h) as tf.Tensor3D;
  });
}

/**
 * The quantizer: BSQ with the straight-through estimator (`zq = sign(z)` with 0 -> -1, times 1/sqrt(L) when
 * `quantizer_cfg.l2_norm`), or identity when `quantizer` is "none".
 * @param z `[..., L]` -> `[..., L]`
 */
export function quantize(cfg: VisionConfig, z: tf.Tensor): tf.Tensor {
  if (cfg.quantizer !== 'bsq') return tf.clone(z);
  return bsqQuantize(z, { l2Norm: cfg.quantizer_cfg.l2_norm === true });
}

/**
 * Quantized codes -> decoder latents (`quant_embed_post`, MLP or identity).
 * @param zq `[B, N, L]` -> `[B, N, hidden_size_post_q]`
 */
export function quantEmbedPost(
  params: Params,
  cfg: VisionConfig,
  zq: tf.Tensor,
  prefix = VISION_PREFIX,
): tf.Tensor3D {
  return tf.tidy(() =>
    cfg.quantizer_embed_type === 'mlp' ? embedMlp(params, `${prefix}.quant_embed_post`, zq) : tf.clone(zq),
  ) as tf.Tensor3D;
}
