import { readRegularFile } from '@qlip/core';
import { ACTIVATIONS } from '@qlip/nn';
import { z } from 'zod';

/**
 * The official Hugging Face `config.json` of NVIDIA's QLIP (`QLIPConfig.to_dict()`), validated with zod.
 * Missing keys get the defaults of the official config classes (so a partial config builds the same model as
 * `QLIPConfig(**json)`); unknown keys are kept, so a loaded config saves back with everything it had.
 */

const int = (min: number) => z.number().int().min(min);

/** Fields shared by the text, vision and decoder sub-configs (official defaults of the vision class). */
const blockFields = {
  hidden_size: int(1).default(768),
  intermediate_size: int(1).default(3072),
  num_attention_heads: int(1).default(12),
  num_hidden_layers: int(0).default(12),
  layer_norm_eps: z.number().positive().default(1e-5),
  hidden_act: z.enum(ACTIVATIONS).default('gelu'),
  attention_dropout: z.number().min(0).max(1).default(0),
  initializer_range: z.number().default(0.02),
  initializer_factor: z.number().default(1),
  q_bias: z.boolean().default(true),
  k_bias: z.boolean().default(true),
  v_bias: z.boolean().default(true),
  subln: z.boolean().default(false),
  swiglu: z.boolean().default(false),
  rope: z.boolean().default(false),
  post_layernorm: z.boolean().default(false),
  projection_dim: int(1).default(512),
};

const imageFields = {
  image_size: int(1).default(224),
  patch_size: int(1).default(32),
  num_channels: int(1).default(3),
};

/** `vision_config.quantizer_cfg`: the official BinarySphericalQuantizer constructor arguments and defaults. */
export const quantizerCfgSchema = z.looseObject({
  embed_dim: int(1).default(18),
  group_size: int(1).default(9),
  soft_entropy: z.boolean().default(true),
  beta: z.number().default(0),
  gamma_0: z.number().default(1),
  gamma_1: z.number().default(1),
  input_format: z.enum(['bchw', 'blc']).default('blc'),
  persample_entropy_compute: z.enum(['group', 'analytical']).default('group'),
  l2_norm: z.boolean().default(true),
  inv_temperature: z.number().positive().default(100),
});

export const textConfigSchema = z.looseObject({
  ...blockFields,
  hidden_size: int(1).default(512),
  intermediate_size: int(1).default(2048),
  num_attention_heads: int(1).default(8),
  vocab_size: int(1).default(49408),
  max_position_embeddings: int(1).default(77),
  pad_token_id: z.number().int().nullable().default(1),
  bos_token_id: z.number().int().nullable().default(49406),
  eos_token_id: z.number().int().default(49407),
});

const quantFields = {
  quantizer: z.enum(['bsq', 'none']).default('none'),
  quantizer_l2_norm: z.boolean().default(false),
  quantizer_embed_type: z.enum(['mlp', 'identity']).default('identity'),
  hidden_size_post_q: int(1).nullable().default(null),
  quantizer_cfg: quantizerCfgSchema.prefault({}),
};

/** `hidden_size_post_q: null` means "same as hidden_size", as in the official class. */
function resolvePostQ<T extends { hidden_size: number; hidden_size_post_q: number | null }>(c: T) {
  return { ...c, hidden_size_post_q: c.hidden_size_post_q ?? c.hidden_size };
}

export const visionConfigSchema = z
  .looseObject({ ...blockFields, ...imageFields, ...quantFields })
  .transform(resolvePostQ);
// The decoder class shares the vision fields, but its quantizer settings are never used: keep them as given.
export const decoderConfigSchema = z
  .looseObject({
    ...blockFields,
    ...imageFields,
    ...quantFields,
    quantizer_cfg: z.record(z.string(), z.unknown()).default({}),
  })
  .transform(resolvePostQ);

export const qlipConfigSchema = z.looseObject({
  text_config: textConfigSchema.prefault({}),
  vision_config: visionConfigSchema.prefault({}),
  decoder_config: decoderConfigSchema.prefault({}),
  projection_dim: int(1).default(512),
  logit_scale_init_value: z.number().default(2.6592),
  // Read by QLIPModel but never set by QLIPConfig: official loading fails without them, so they are always written.
  vision_projection_bias: z.boolean().default(false),
  text_projection_bias: z.boolean().default(false),
});

/** A validated QLIP config with defaults filled in (plus any unknown keys of the input). */
export type QLIPConfig = z.output<typeof qlipConfigSchema>;
/** What `parseQLIPConfig` accepts: any subset of the official keys. */
export type QLIPConfigInput = z.input<typeof qlipConfigSchema>;

/** Cross-field rules the model needs; each message names the key path. */
function crossCheck(c: QLIPConfig): string[] {
  const errs: string[] = [];
  const heads = (
    name: string,
    s: { hidden_size: number; num_attention_heads: number; rope: boolean },
    usesRope: boolean,
  ) => {
    if (s.hidden_size % s.num_attention_heads !== 0) {
      errs.push(
        `${name}.hidden_size: ${s.hidden_size} is not divisible by num_attention_heads (${s.num_attention_heads})`,
      );
    } else if (usesRope && s.rope && (s.hidden_size / s.num_attention_heads) % 4 !== 0) {
      errs.push(
        `${name}.rope: needs a head dimension divisible by 4 (hidden_size / num_attention_heads = ${s.hidden_size / s.num_attention_heads})`,
      );
    }
  };
  const v = c.vision_config;
  const d = c.decoder_config;
  heads('text_config', c.text_config, false);
  heads('vision_config', v, true);
  heads('decoder_config', d, true);
  if (v.image_size % v.patch_size !== 0) {
    errs.push(`vision_config.image_size: ${v.image_size} is not a multiple of patch_size (${v.patch_size})`);
  }
  if (d.image_size !== v.image_size)
    errs.push(
      `decoder_config.image_size: ${d.image_size} must equal vision_config.image_size (${v.image_size})`,
    );
  if (d.patch_size !== v.patch_size)
    errs.push(
      `decoder_config.patch_size: ${d.patch_size} must equal vision_config.patch_size (${v.patch_size})`,
    );
  if (d.num_channels !== v.num_channels)
    errs.push(
      `decoder_config.num_channels: ${d.num_channels} must equal vision_config.num_channels (${v.num_channels})`,
    );
  const q = v.quantizer_cfg;
  const mlp = v.quantizer_embed_type === 'mlp';
  if (v.quantizer === 'bsq' && q.embed_dim % q.group_size !== 0) {
    errs.push(
      `vision_config.quantizer_cfg.embed_dim: ${q.embed_dim} is not divisible by group_size (${q.group_size})`,
    );
  }
  if (!mlp && v.quantizer === 'bsq' && q.embed_dim !== v.hidden_size) {
    errs.push(
      `vision_config.quantizer_cfg.embed_dim: ${q.embed_dim} must equal vision_config.hidden_size (${v.hidden_size}) when quantizer_embed_type is "identity"`,
    );
  }
  const latent = mlp ? v.hidden_size_post_q : v.hidden_size;
  if (d.hidden_size !== latent) {
    errs.push(
      `decoder_config.hidden_size: ${d.hidden_size} must equal ${mlp ? 'vision_config.hidden_size_post_q' : 'vision_config.hidden_size (identity quant_embed)'} (${latent})`,
    );
  }
  if (c.text_config.max_position_embeddings < 1)
    errs.push('text_config.max_position_embeddings: must be >= 1');
  return errs;
}

/**
 * Validate a config object. Throws one Error listing every problem as `source: key.path: message`.
 * @param source the file (or other origin) named in errors
 */
export function parseQLIPConfig(json: unknown, source = 'config.json'): QLIPConfig {
  const r = qlipConfigSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map(
      (i) => `${source}: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`,
    );
    throw new Error(`invalid QLIP config\n${lines.join('\n')}`);
  }
  const errs = crossCheck(r.data);
  if (errs.length) throw new Error(`invalid QLIP config\n${errs.map((e) => `${source}: ${e}`).join('\n')}`);
  return r.data;
}

/** Read and validate a `config.json`; errors name the file. */
export async function readQLIPConfig(path: string): Promise<QLIPConfig> {
  let text: string;
  try {
    // A regular file of sane size only: a FIFO named config.json must not hang the process.
    text = (await readRegularFile(path, { maxBytes: 16 * 2 ** 20, what: 'QLIP config' })).toString('utf8');
  } catch (err) {
    const m = (err as Error).message;
    throw new Error(
      m.startsWith(path)
        ? m.replace(': cannot read QLIP config file:', ': cannot read QLIP config:')
        : `${path}: cannot read QLIP config: ${m}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  // A checkpoint's config names its towers: filling a missing one with defaults would load the weights
  // into the wrong shapes and fail later with a misleading size error.
  const missing = ['vision_config', 'text_config'].filter(
    (k) => !json || typeof json !== 'object' || typeof (json as Record<string, unknown>)[k] !== 'object',
  );
  if (missing.length)
    throw new Error(
      `${path}: not a QLIP config: no ${missing.join(' and no ')} (a QLIP checkpoint's config.json describes its vision and text towers)`,
    );
  return parseQLIPConfig(json, path);
}
