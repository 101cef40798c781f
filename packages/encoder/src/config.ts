import type { BlockConfig } from '@qlip/nn';

/**
 * The fields of the official `vision_config` the encoder reads (snake_case, as in config.json).
 * `projection_dim` and `post_layernorm` are ignored by the reference and so here.
 */
export interface VisionConfig extends BlockConfig {
  image_size: number;
  patch_size: number;
  num_channels: number;
  /** 2-D rope on q/k of every patch token (CLS unrotated). */
  rope: boolean;
  /** "bsq" or "none" (no quantizer: the bottleneck passes features through). */
  quantizer: string;
  /** F.normalize(dim=-1) before the quantizer. */
  quantizer_l2_norm: boolean;
  /** "mlp" (c_fc -> GELU(erf) -> c_proj) or "identity". */
  quantizer_embed_type: string;
  hidden_size_post_q: number;
  quantizer_cfg: { embed_dim?: number; l2_norm?: boolean; group_size?: number; [key: string]: unknown };
}

/** The fields of the official `decoder_config` the decoder reads. */
export interface DecoderConfig extends BlockConfig {
  image_size: number;
  patch_size: number;
  num_channels: number;
  /** 2-D rope on q/k of every token (the decoder has no CLS). */
  rope: boolean;
}

/** Tokens per side of the patch grid. */
export function gridSize(cfg: { image_size: number; patch_size: number }): number {
  return Math.floor(cfg.image_size / cfg.patch_size);
}

/** L: the bottleneck width (quantizer_cfg.embed_dim with a quantizer MLP, else the hidden size). */
export function bottleneckBits(cfg: VisionConfig): number {
  if (cfg.quantizer_embed_type === 'mlp' || cfg.quantizer === 'bsq') {
    const l = cfg.quantizer_cfg.embed_dim;
    if (typeof l !== 'number')
      throw new Error(
        'vision_config.quantizer_cfg.embed_dim is required with a bsq quantizer or an mlp quant_embed',
      );
    return l;
  }
  return cfg.hidden_size;
}
