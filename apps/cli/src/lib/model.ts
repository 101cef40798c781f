import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import type { ProgressListener } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { DEFAULT_MODEL_NAME, defaultModelDir } from '@qlip/pretrained';
import { type TokenizerRuntime, tfjsRuntime } from '@qlip/tokenize';

/** `--model` and `--runtime`, shared by every command that runs a tokenizer. */
export const modelFlags = {
  model: Flags.string({
    char: 'm',
    description: `QLIP model directory (config.json + model.safetensors, official Hugging Face layout); default: the shipped ${DEFAULT_MODEL_NAME} checkpoint`,
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

/** `--model`, or the checkpoint shipped with qlip when it is absent. */
export function resolveModelDir(flag: string | undefined): string {
  return flag ?? defaultModelDir();
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
