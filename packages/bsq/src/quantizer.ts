import type { BsqLossOptions, EntropyMode } from './loss.js';

/** BSQ settings in qlip's own names. `fromOfficialQuantizerCfg` maps the HF `quantizer_cfg`. */
export interface BsqConfig extends BsqLossOptions {
  /** L: bits per token. */
  bits: number;
}

/** The official `vision_config.quantizer_cfg` keys (NVlabs/QLIP `bsq.py` constructor arguments). */
export interface OfficialQuantizerCfg {
  embed_dim: number;
  beta?: number;
  gamma_0?: number;
  gamma_1?: number;
  zeta?: number;
  group_size?: number;
  inv_temperature?: number;
  l2_norm?: boolean;
  persample_entropy_compute?: string;
  soft_entropy?: boolean;
  input_format?: string;
}

/**
 * Map an official quantizer_cfg to a BsqConfig, with the defaults of QLIP's `BinarySphericalQuantizer`
 * for absent keys (l2_norm true, inv_temperature 100, group_size 9, beta 0, gamma_0 = gamma_1 = 1).
 */
export function fromOfficialQuantizerCfg(cfg: OfficialQuantizerCfg): BsqConfig {
  const mode = cfg.persample_entropy_compute ?? 'group';
  if (mode !== 'group' && mode !== 'analytical') {
    throw new Error(
      `quantizer_cfg.persample_entropy_compute must be "group" or "analytical" (got "${mode}")`,
    );
  }
  if (cfg.soft_entropy === false) {
    throw new Error(
      'quantizer_cfg.soft_entropy=false (hard entropy) is not supported; inference is unaffected, set it to true to train',
    );
  }
  const groupSize = cfg.group_size ?? 9;
  if (cfg.embed_dim % groupSize !== 0) {
    throw new Error(
      `quantizer_cfg.embed_dim (${cfg.embed_dim}) must be divisible by group_size (${groupSize})`,
    );
  }
  return {
    bits: cfg.embed_dim,
    beta: cfg.beta ?? 0,
    gamma0: cfg.gamma_0 ?? 1,
    gamma1: cfg.gamma_1 ?? 1,
    zeta: cfg.zeta ?? 1,
    groupSize,
    invTemperature: cfg.inv_temperature ?? 100,
    l2Norm: cfg.l2_norm ?? true,
    mode: mode as EntropyMode,
  };
}
