import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLIP_MEAN, CLIP_STD } from '@qlip/core';
import { type QLIPConfig, QLIPModel } from '@qlip/model';
import { writeHfTokenizerFiles } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { verificationIds, verificationPixels } from './onnx/verify.js';
import { type WrittenFile, writeStaged } from './staging.js';
import { readTrainingSummary, type TrainingSummary, trainingSection } from './training-card.js';

/** CLIP's image normalisation, as in the released QLIP checkpoints' preprocessor_config.json. */

/** PIL.Image.BICUBIC, the `resample` value HF writes for bicubic. */
const PIL_BICUBIC = 3;

/** The files of the official Hugging Face QLIP layout, in the order they are moved into place. */
export const HF_FILES = [
  'model.safetensors',
  'config.json',
  'vocab.json',
  'merges.txt',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'preprocessor_config.json',
  'README.md',
] as const;

/**
 * Keys NVIDIA's released config.json carries besides `QLIPConfig.to_dict()`: they point transformers at the
 * QLIP modeling code (`configuration_qlip.py` / `modeling_qlip.py` from NVlabs/QLIP). Those files are NOT
 * shipped (NVIDIA's code is non-commercial; we never copy it): the model card says so and how to add them.
 * Kept so the export is interchangeable with the released checkpoints; kept as they are when the model
 * already has them.
 */
const HF_CONFIG_KEYS = {
  architectures: ['QLIPModel'],
  auto_map: { AutoConfig: 'configuration_qlip.QLIPConfig', AutoModel: 'modeling_qlip.QLIPModel' },
  model_type: 'clip',
  torch_dtype: 'float32',
};

/** `preprocessor_config.json` as transformers' CLIPImageProcessor writes it: bicubic shortest-edge resize, centre crop, CLIP mean/std. */
export function preprocessorConfig(imageSize: number): Record<string, unknown> {
  return {
    crop_size: { height: imageSize, width: imageSize },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [...CLIP_MEAN],
    image_processor_type: 'CLIPImageProcessor',
    image_std: [...CLIP_STD],
    resample: PIL_BICUBIC,
    rescale_factor: 1 / 255,
    size: { shortest_edge: imageSize },
  };
}

/** The config.json to write: the model's config (unknown keys kept) plus the HF keys it lacks. */
export function hfConfig(config: QLIPConfig, dtype: WeightDType = 'F32'): Record<string, unknown> {
  return { ...HF_CONFIG_KEYS, ...config, torch_dtype: TORCH_DTYPE[dtype] };
}

/** Storage precision of exported weights. F16/BF16 halve the files; loading widens them to float32. */
export type WeightDType = 'F32' | 'F16' | 'BF16';
const TORCH_DTYPE: Record<WeightDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The model card's configuration table: geometry, towers, bits, parameter count and size. */
function configurationRows(model: QLIPModel, dtype: WeightDType): Array<[string, string]> {
  const c = model.config;
  const v = c.vision_config;
  const d = c.decoder_config;
  const t = c.text_config;
  const [gh, gw] = model.grid;
  const params = model.parameterCount();
  const family = (s: { swiglu: boolean; subln: boolean; rope: boolean; hidden_act: string }) =>
    [s.swiglu ? 'SwiGLU' : `MLP (${s.hidden_act})`, s.subln ? 'sub-LN' : '', s.rope ? '2-D RoPE' : '']
      .filter(Boolean)
      .join(', ');
  const tower = (s: {
    hidden_size: number;
    num_hidden_layers: number;
    num_attention_heads: number;
    intermediate_size: number;
  }) =>
    `${s.hidden_size} wide, ${s.num_hidden_layers} layers, ${s.num_attention_heads} heads, MLP ${s.intermediate_size}`;
  return [
    ['image size / patch size', `${model.imageSize} / ${model.patchSize}`],
    ['tokens per image', `${gh}x${gw} = ${model.tokensPerImage}`],
    ['bits per token (BSQ)', `${model.bits} (groups of ${model.groupSize})`],
    ['compression ratio (24 p^2 / L)', ((24 * model.patchSize ** 2) / model.bits).toFixed(1)],
    ['vision encoder', `${tower(v)}; ${family(v)}`],
    ['quant_embed', `${v.quantizer_embed_type}${v.quantizer_l2_norm ? ', L2-normalised' : ''}`],
    ['decoder', `${tower(d)}; ${family(d)}`],
    ['text encoder', `${tower(t)}; context ${t.max_position_embeddings}, vocab ${t.vocab_size}`],
    ['projection dim', String(c.projection_dim)],
    [
      'parameters',
      `${params.toLocaleString('en-US')} (${TORCH_DTYPE[dtype]}, ${((params * (dtype === 'F32' ? 4 : 2)) / 2 ** 20).toFixed(1)} MiB)`,
    ],
  ];
}

/** How to load the export, with qlip and with NVIDIA's code (whose modeling files are not shipped). */
function useSection(model: QLIPModel): string {
  return `## Use

Images go in as \`[B, 3, ${model.imageSize}, ${model.imageSize}]\` float32, \`(x / 255 - mean) / std\`; decoded pixels come
back in the same normalised space. Token indices pack the bits most-significant first (channel 0 is the MSB).

- qlip: \`qlip tokenize --model <this folder> ...\`, or \`QLIPModel.load(dir)\` from \`@qlip/model\`.
- Python: NVIDIA's \`QLIPModel.from_pretrained(dir)\` from NVlabs/QLIP, and \`CLIPTokenizer\` /
  \`CLIPImageProcessor\` from transformers.

### About \`auto_map\` in config.json

config.json carries the same \`architectures\` and \`auto_map\` keys as NVIDIA's released checkpoints:
\`auto_map\` names \`configuration_qlip.QLIPConfig\` and \`modeling_qlip.QLIPModel\`, the modeling code of
[NVlabs/QLIP](https://github.com/NVlabs/QLIP). **Those two files are not in this folder**: NVIDIA's code is
under a non-commercial licence and is not redistributed here. To load with
\`AutoModel.from_pretrained(dir, trust_remote_code=True)\`, copy \`configuration_qlip.py\` and \`modeling_qlip.py\`
from NVlabs/QLIP into this folder (or import \`QLIPModel\` from that repository and call its
\`from_pretrained\`). Without them, transformers cannot build the model from \`auto_map\`; qlip itself
never reads the key.
`;
}

/**
 * A model card: what the model is, its configuration, how it was trained (when the exported folder is a
 * `qlip train` checkpoint), how to load it.
 */
export function modelCard(
  model: QLIPModel,
  name: string,
  dtype: WeightDType = 'F32',
  training?: TrainingSummary,
): string {
  return `---
library_name: transformers
tags:
  - qlip
  - visual-tokenizer
  - binary-spherical-quantization
  - clip
---

# ${name}

A QLIP visual tokenizer (arXiv 2502.05178): a ViT encoder whose patch tokens are quantised with Binary
Spherical Quantization into ${model.bits}-bit tokens and decoded back to pixels by a ViT decoder, trained
together with a CLIP text tower so the image embedding also serves zero-shot classification. Exported by
qlip in the layout of NVIDIA's released \`nvidia/QLIP-*\` checkpoints.

## Configuration

| setting | value |
|---|---|
${configurationRows(model, dtype)
  .map(([k, val]) => `| ${k} | ${val} |`)
  .join('\n')}

${training ? trainingSection(training) : 'No training record (trainer_state.json) was found beside the weights.\n'}
## Files

- \`config.json\`: \`QLIPConfig\` (vision_config with quantizer_cfg, decoder_config, text_config)
- \`model.safetensors\`: every parameter, ${TORCH_DTYPE[dtype]}, official parameter names
- \`vocab.json\`, \`merges.txt\`, \`tokenizer_config.json\`, \`special_tokens_map.json\`: the OpenAI CLIP BPE tokenizer
- \`preprocessor_config.json\`: bicubic resize of the shortest edge to ${model.imageSize}, centre crop, CLIP mean/std

${useSection(model)}`;
}

export interface SafetensorsExportResult {
  dir: string;
  files: WrittenFile[];
  parameters: number;
}

/**
 * Write `model` in the official Hugging Face QLIP layout (config.json, model.safetensors, CLIP tokenizer
 * files, preprocessor_config.json, README.md model card) into `outDir`. Every file is staged and moved into
 * place only when all were written; on any error nothing is left behind.
 */
export async function exportSafetensors(
  model: QLIPModel,
  outDir: string,
  opts: {
    name?: string;
    dtype?: WeightDType;
    /** Replace the files of a non-empty output folder (refused otherwise). */
    overwrite?: boolean;
    /** The model folder the export reads: `outDir` equal to or inside it is refused. */
    sourceDir?: string;
  } = {},
): Promise<SafetensorsExportResult> {
  const dtype = opts.dtype ?? 'F32';
  const { files } = await writeStaged(
    outDir,
    async (stage) => {
      await model.save(stage, { dtype }); // config.json + model.safetensors (streamed, one tensor at a time)
      await writeFile(
        join(stage, 'config.json'),
        `${JSON.stringify(hfConfig(model.config, dtype), null, 2)}\n`,
      );
      writeHfTokenizerFiles(stage);
      await writeFile(
        join(stage, 'preprocessor_config.json'),
        `${JSON.stringify(preprocessorConfig(model.imageSize), null, 2)}\n`,
      );
      const training = opts.sourceDir ? await readTrainingSummary(opts.sourceDir) : undefined;
      await writeFile(join(stage, 'README.md'), modelCard(model, opts.name ?? 'QLIP', dtype, training));
      return { files: [...HF_FILES], result: undefined };
    },
    {
      overwrite: opts.overwrite,
      source: opts.sourceDir ? { dir: opts.sourceDir } : undefined,
      command: 'qlip export safetensors',
    },
  );
  return { dir: outDir, files, parameters: model.parameterCount() };
}

export interface SafetensorsVerification {
  /**
   * F32 exports: true when the re-loaded model gives bit-identical indices, pixels and embeddings.
   * F16/BF16 exports: true when at most 5% of the group indices flip (tokens whose channels sit within
   * rounding of zero) and every float output stays within 5% of the largest reference magnitude.
   */
  passed: boolean;
  batch: number;
  indexMismatches: number;
  /** Max |reloaded - original| (0 when identical). */
  maxAbsDiff: { reconstruction: number; imageEmbeds: number; textEmbeds: number };
  problems: string[];
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  a.dispose();
  b.dispose();
  return Number.isNaN(m) ? Number.POSITIVE_INFINITY : m;
}

function maxAbsValue(a: tf.Tensor): number {
  const m = tf.max(tf.abs(a));
  const v = m.dataSync()[0]!;
  tf.dispose([a, m]);
  return v;
}

/** Re-load an export with `QLIPModel.load` and compare its outputs with `model` on fixed inputs. */
export async function verifySafetensorsExport(
  model: QLIPModel,
  dir: string,
  opts: { batch?: number; seed?: number; dtype?: WeightDType } = {},
): Promise<SafetensorsVerification> {
  const exact = (opts.dtype ?? 'F32') === 'F32';
  const batch = opts.batch ?? 2;
  const seed = opts.seed ?? 1234;
  const back = await QLIPModel.load(dir);
  const s = model.imageSize;
  const c = model.config.vision_config.num_channels;
  const x = tf.tensor4d(verificationPixels({ channels: c, imageSize: s }, batch, seed), [batch, c, s, s]);
  const t = model.config.text_config;
  const ids = verificationIds(
    { contextLength: t.max_position_embeddings, vocabSize: t.vocab_size, eosTokenId: t.eos_token_id },
    batch,
    seed + 1,
  );
  try {
    let indexMismatches = 0;
    if (model.config.vision_config.quantizer === 'bsq') {
      const a = await back.encodeToGroupIndices(x);
      const b = await model.encodeToGroupIndices(x);
      for (let i = 0; i < b.indices.length; i++) if (a.indices[i] !== b.indices[i]) indexMismatches++;
    }
    const maxAbsDiff = {
      reconstruction: maxAbs(back.reconstruct(x), model.reconstruct(x)),
      imageEmbeds: maxAbs(back.imageEmbeddings(x), model.imageEmbeddings(x)),
      textEmbeds: maxAbs(back.textEmbeddings(ids), model.textEmbeddings(ids)),
    };
    const problems: string[] = [];
    const total = batch * model.tokensPerImage * (model.bits / model.groupSize);
    if (exact ? indexMismatches > 0 : indexMismatches > 0.05 * total) {
      problems.push(`${indexMismatches} of ${total} group indices differ after re-loading ${dir}`);
    }
    const scale = exact
      ? 0
      : 0.05 * Math.max(1, maxAbsValue(model.reconstruct(x)), maxAbsValue(model.imageEmbeddings(x)));
    for (const [k, v] of Object.entries(maxAbsDiff))
      if (v > scale) problems.push(`${k} differs by up to ${v} after re-loading ${dir}`);
    return { passed: problems.length === 0, batch, indexMismatches, maxAbsDiff, problems };
  } finally {
    x.dispose();
    back.dispose();
  }
}
