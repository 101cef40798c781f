import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Name of the checkpoint shipped in this package (trained with `qlip train --preset tiny-mnist`). */
export const DEFAULT_MODEL_NAME = 'qlip-tiny-mnist';

/**
 * Absolute path of the shipped checkpoint directory (config.json + model.safetensors + README.md), the
 * model every `qlip` command uses when `--model` is not given. Resolved from this file, so it works from
 * `src/` (tests) and `dist/` (the built CLI) alike.
 */
export function defaultModelDir(): string {
  const dir = fileURLToPath(new URL(`../models/${DEFAULT_MODEL_NAME}/`, import.meta.url));
  if (!existsSync(`${dir}config.json`)) {
    throw new Error(`${dir}: the shipped checkpoint is missing (expected config.json and model.safetensors)`);
  }
  return dir.replace(/\/$/, '');
}

/** Name of the unified model shipped in this package (trained with `qlip unified train --preset um-tiny-mnist`). */
export const DEFAULT_UNIFIED_MODEL_NAME = 'um-tiny-mnist';

/** Absolute path of the shipped unified model (config.json + model.safetensors + README.md). */
export function defaultUnifiedModelDir(): string {
  const dir = fileURLToPath(new URL(`../models/${DEFAULT_UNIFIED_MODEL_NAME}/`, import.meta.url));
  if (!existsSync(`${dir}config.json`)) {
    throw new Error(
      `${dir}: the shipped unified model is missing (expected config.json and model.safetensors)`,
    );
  }
  return dir.replace(/\/$/, '');
}
