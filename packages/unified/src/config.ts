import { z } from 'zod';

/** Model type written to config.json (`model_type`). */
export const MODEL_TYPE = 'qlip-unified';

/** How image tokens are predicted: G groups of g bits (G softmaxes of 2^g) or one logistic per bit. */
export const ImageHeadSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('groups'), group_size: z.number().int().min(1).max(16) }).strict(),
  z.object({ kind: z.literal('bits') }).strict(),
]);

/** The frozen QLIP tokenizer the image tokens come from. */
export const TokenizerRefSchema = z
  .object({
    /** Directory, or `pretrained:<name>` for one shipped in @qlip/pretrained. */
    path: z.string().min(1),
    fingerprint: z.string().optional(),
  })
  .strict();

/** config.json of a unified model (everything needed to rebuild it, plus the vocabulary mapping). */
export const UnifiedConfigSchema = z
  .object({
    model_type: z.literal(MODEL_TYPE).default(MODEL_TYPE),
    hidden_size: z.number().int().positive(),
    num_hidden_layers: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    intermediate_size: z.number().int().positive(),
    hidden_act: z.string().default('gelu'),
    layer_norm_eps: z.number().positive().default(1e-5),
    /** Longest sequence (learned 1-D positions). */
    max_position_embeddings: z.number().int().positive(),
    /** Bits per image token (the tokenizer's L). */
    image_bits: z.number().int().min(1).max(64),
    /** Token grid [rows, cols] (the tokenizer's). */
    image_grid: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    image_head: ImageHeadSchema,
    /** CLIP BPE ids of the restricted text vocabulary, after the specials (see vocab.ts). */
    clip_ids: z.array(z.number().int().nonnegative()),
    tokenizer: TokenizerRefSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.hidden_size % c.num_attention_heads !== 0)
      ctx.addIssue({
        code: 'custom',
        message: `hidden_size ${c.hidden_size} is not divisible by ${c.num_attention_heads} heads`,
      });
    if (c.image_head.kind === 'groups' && c.image_bits % c.image_head.group_size !== 0)
      ctx.addIssue({
        code: 'custom',
        message: `image_bits ${c.image_bits} is not divisible by image_head.group_size ${c.image_head.group_size}`,
      });
  });
export type UnifiedConfig = z.output<typeof UnifiedConfigSchema>;
export type UnifiedConfigInput = z.input<typeof UnifiedConfigSchema>;

/** Validate a config; errors list every bad key. */
export function parseUnifiedConfig(input: unknown, where = 'unified config'): UnifiedConfig {
  const r = UnifiedConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new Error(`${where} is invalid:\n${lines.join('\n')}`);
}

/** Groups and classes per group of the image head (`bits`: L groups of 1 bit, as logistic outputs). */
export function headShape(cfg: Pick<UnifiedConfig, 'image_bits' | 'image_head'>): {
  groups: number;
  groupBits: number;
} {
  if (cfg.image_head.kind === 'bits') return { groups: cfg.image_bits, groupBits: 1 };
  return { groups: cfg.image_bits / cfg.image_head.group_size, groupBits: cfg.image_head.group_size };
}
