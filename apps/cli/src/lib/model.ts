import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import type { AlphaMode, ProgressListener } from '@qlip/core';
import {
  type DownloadResult,
  hubIdFromCachePath,
  licenseNotice,
  readModelCard,
  resolveModel,
} from '@qlip/hub';
import { DEFAULT_MODEL_NAME, defaultModelDir } from '@qlip/pretrained';
import { type ModelRuntime, readTokenDataset } from '@qlip/tokenize';
import { describeModel, type ModelDescription, PRECISIONS } from 'qlip';
import { createProgressRenderer } from './progress.js';

/** `--background`, for commands that read the user's own image files. */
export const backgroundFlag = {
  background: Flags.string({
    description:
      "composite transparent images on this colour; default: alpha dropped and the stored colour kept, as in training (PIL convert('RGB'))",
    options: ['white', 'black'],
  }),
};

/** `--model` and `--runtime`, shared by every command that runs a tokenizer. */
export const modelFlags = {
  model: Flags.string({
    char: 'm',
    description: `QLIP model: a directory (config.json + model.safetensors, official Hugging Face layout) or a Hugging Face hub id org/name[@revision] (downloaded once into the HF cache; see qlip download); default: the shipped ${DEFAULT_MODEL_NAME} checkpoint`,
  }),
  runtime: Flags.string({
    description:
      "inference runtime: auto (ONNX Runtime when installed, else tfjs), onnx (ONNX Runtime: the model's own export in <model>/onnx, else one exported once into $QLIP_CACHE or ~/.cache/qlip, never into the model folder) or tfjs (the --backend); indices are identical",
    options: ['auto', 'onnx', 'tfjs'],
    default: 'auto',
  }),
};

/** `--precision` (tokenize): fp32, or int8 on ONNX Runtime with its agreement with fp32 measured. */
export const precisionFlag = {
  precision: Flags.string({
    description:
      'encoder precision: fp32 (default; indices identical on every runtime) or int8 (lower precision, ONNX Runtime only: ' +
      'dynamically quantised transformer blocks, ~2x faster on one core, some indices differ from fp32; the fp32 graphs ' +
      'also run on the first --agreement-images images and the result reports how many indices and bits agree). bf16 is not offered: ' +
      "ONNX Runtime 1.30's CPU kernels have no bf16 matmul",
    options: [...PRECISIONS],
    default: 'fp32',
  }),
  'agreement-images': Flags.integer({
    description:
      'with --precision int8: images (whole batches) also run at fp32 to measure the agreement (0: none)',
    default: 256,
    min: 0,
  }),
};

/**
 * `--model`/`--init`: a directory, or a hub id downloaded into (or found in) the Hugging Face cache with
 * progress on stderr; the checkpoint shipped with qlip when absent.
 */
export async function resolveModelDir(flag: string | undefined): Promise<string> {
  if (flag === undefined) return defaultModelDir();
  const progress = createProgressRenderer();
  try {
    const r = await resolveModel(flag, { onProgress: progress.listener });
    progress.stop();
    if (r.download) noteLicence(r.download);
    return r.dir;
  } finally {
    progress.stop();
  }
}

/** The model card's licence, printed on stderr when a model is first downloaded (with --json too). */
export function noteLicence(r: DownloadResult): void {
  if (!r.firstDownload) return;
  const line =
    licenseNotice(r.repo, r.card) ??
    `${r.repo}: its model card states no licence; check the repository before use`;
  process.stderr.write(`${line}\n`);
}

/** What a job run through `withRuntime` gets. */
export interface RuntimeJob {
  runtime: ModelRuntime;
  modelDir: string;
  /** The loaded model (name, size, grid, bits, card). */
  model: ModelDescription;
  /** Alpha rule from `--background` (tokenize and reconstruct). */
  alpha: AlphaMode;
  onProgress: ProgressListener;
  signal: AbortSignal;
}

/**
 * The model a tokenized dataset was made with (its meta.json), as a `--model` value: the recorded
 * directory when it exists here, else the pinned hub id its Hugging Face cache path names.
 */
export async function recordedModel(dataset: string): Promise<{ spec: string; fingerprint: string }> {
  const { meta } = await readTokenDataset(dataset);
  const { path, fingerprint } = meta.model;
  if (existsSync(join(path, 'config.json'))) return { spec: path, fingerprint };
  const id = hubIdFromCachePath(path);
  if (id) return { spec: id, fingerprint };
  throw new Error(
    `${join(dataset, 'meta.json')} records the model ${path}, which is not on this machine: give the same model with --model`,
  );
}

/** The `model: ...` line of a command that loads a tfjs model itself (exports), on stderr. */
export async function noteModel(
  name: string,
  dir: string,
  m: { imageSize: number; patchSize: number; grid: [number, number]; bits: number },
): Promise<void> {
  const card = await readModelCard(dir);
  const d: ModelDescription = {
    name,
    dir,
    source: 'local',
    runtime: 'tfjs',
    imageSize: m.imageSize,
    patchSize: m.patchSize,
    grid: m.grid,
    bits: m.bits,
    ...(card?.license ? { license: card.license } : {}),
    ...(card?.datasets ? { trainingData: card.datasets } : {}),
  };
  process.stderr.write(`${describeModel(d)}\n`);
}
