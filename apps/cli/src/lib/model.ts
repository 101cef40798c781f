import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import type { ProgressListener } from '@qlip/core';
import { type DownloadResult, licenseNotice, resolveModel } from '@qlip/hub';
import { QLIPModel } from '@qlip/model';
import { DEFAULT_MODEL_NAME, defaultModelDir } from '@qlip/pretrained';
import { type TokenizerRuntime, tfjsRuntime } from '@qlip/tokenize';
import { createProgressRenderer } from './progress.js';

/** `--model` and `--runtime`, shared by every command that runs a tokenizer. */
export const modelFlags = {
  model: Flags.string({
    char: 'm',
    description: `QLIP model: a directory (config.json + model.safetensors, official Hugging Face layout) or a Hugging Face hub id org/name[@revision] (downloaded once into the HF cache; see qlip download); default: the shipped ${DEFAULT_MODEL_NAME} checkpoint`,
  }),
  runtime: Flags.string({
    description:
      'inference runtime: tfjs (the --backend) or onnx (ONNX Runtime, exported graphs in <model>/onnx)',
    options: ['tfjs', 'onnx'],
    default: 'tfjs',
  }),
};

export interface LoadedRuntime {
  runtime: TokenizerRuntime;
  dispose(): void;
}

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

/** Load a model directory as a tokenizer runtime; errors name the directory and what is missing. */
export async function loadRuntime(dir: string, runtime: string): Promise<LoadedRuntime> {
  if (!existsSync(join(dir, 'config.json'))) {
    throw new Error(`${dir}: not a QLIP model directory (expected config.json and model.safetensors)`);
  }
  if (runtime === 'onnx') {
    // Resolved at run time so the tfjs path never loads ONNX Runtime.
    const mod = (await import('@qlip/export' as string)) as {
      onnxRuntime(dir: string): Promise<TokenizerRuntime & { dispose(): void }>;
    };
    const rt = await mod.onnxRuntime(dir);
    return { runtime: rt, dispose: () => rt.dispose() };
  }
  const model = await QLIPModel.load(dir);
  return { runtime: tfjsRuntime(model), dispose: () => model.dispose() };
}

/** What a job run through `withRuntime` gets. */
export interface RuntimeJob {
  runtime: TokenizerRuntime;
  modelDir: string;
  onProgress: ProgressListener;
  signal: AbortSignal;
}
