import { specMismatch, type TensorReader, toFloat32 } from '@qlip/core';
import { disposeParams, type ParamSpec, type Params, storageShape, toStorage } from '@qlip/nn';
import * as tf from '@tensorflow/tfjs-core';
import { isIgnoredBuffer } from './specs.js';

const MAX_LISTED = 40;

/**
 * Check a checkpoint against the expected parameters before reading any data: every missing, unexpected or
 * mis-shaped tensor is reported at once, each line naming the file, the tensor, and expected vs actual shape.
 */
export function checkCheckpoint(ckpt: TensorReader, specs: ParamSpec[]): void {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const s of specs) {
    expected.add(s.name);
    const e = ckpt.entries.get(s.name);
    const mismatch = e && specMismatch(e, { shape: s.shape, float: true });
    if (!e) {
      problems.push(`${ckpt.path}: missing tensor "${s.name}" (expected shape [${s.shape}])`);
    } else if (mismatch === 'shape') {
      problems.push(`${e.file}: tensor "${s.name}" has shape [${e.shape}], the config expects [${s.shape}]`);
    } else if (mismatch === 'dtype') {
      problems.push(
        `${e.file}: tensor "${s.name}" has dtype ${e.dtype}, expected a float type (F32, F16 or BF16)`,
      );
    }
  }
  for (const [name, e] of ckpt.entries) {
    if (!expected.has(name) && !isIgnoredBuffer(name)) {
      problems.push(`${e.file}: unexpected tensor "${name}" [${e.shape}] (not a parameter of this config)`);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, MAX_LISTED);
    if (problems.length > MAX_LISTED) shown.push(`... and ${problems.length - MAX_LISTED} more`);
    throw new Error(
      `checkpoint does not match the config (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n${shown.join('\n')}`,
    );
  }
}

/** Refuse weights holding NaN or ±Inf: every output of such a model is garbage, silently. */
export function checkFinite(name: string, values: Float32Array, source: string): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i]!)) continue;
    let bad = 0;
    for (let j = i; j < values.length; j++) if (!Number.isFinite(values[j]!)) bad++;
    throw new Error(
      `${source}: tensor ${JSON.stringify(name)} holds ${bad} non-finite value(s) (first ${values[i]} at element ${i} of ${values.length}); ` +
        'the checkpoint is damaged or its training diverged',
    );
  }
}

/**
 * Read every parameter of `specs` from `ckpt` into tf.Variables (storage layout, see `Params`). Each variable is
 * created from a single read of its tensor and the host copy is dropped before the next one, so peak memory is
 * the model plus one tensor (two for transposed Linear weights).
 * Weights holding NaN or ±Inf are refused, naming the tensor.
 * @param source names the checkpoint in errors (its folder)
 */
export async function loadParams(
  ckpt: TensorReader,
  specs: ParamSpec[],
  source = 'checkpoint',
): Promise<Params> {
  checkCheckpoint(ckpt, specs);
  const params: Params = new Map();
  try {
    for (const s of specs) {
      const host = await ckpt.read(s.name);
      const floats = toFloat32(host);
      checkFinite(s.name, floats, source);
      const values = toStorage(s, floats);
      const t = tf.tensor(values, storageShape(s), 'float32');
      params.set(s.name, tf.variable(t, true));
      t.dispose();
    }
  } catch (err) {
    disposeParams(params);
    throw err;
  }
  return params;
}
