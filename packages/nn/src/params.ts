import type { Rng } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Model parameters keyed by the OFFICIAL Hugging Face names (`vision_model.encoder.layers.0.self_attn.q_proj.weight`).
 *
 * Storage layout differs from the checkpoint layout in two places, for speed on the wasm backend:
 * - Linear weights are stored transposed, `[in, out]` (checkpoint `[out, in]`), so `x @ W` needs no transposeB
 *   (stock wasm matMul with transposeB is ~11x slower).
 * - The patch-embedding Conv2d weight `[D, 3, p, p]` is stored as `[3*p*p, D]` with rows in (channel, row, col)
 *   order, so patch embedding is patchify + matMul (wasm has no Conv2DBackpropFilter).
 * `toStorage` / `fromStorage` convert between the two layouts; loaders and savers must use them.
 */
export type Params = Map<string, tf.Variable>;

/** How a parameter is laid out in memory relative to the checkpoint. */
export type ParamLayout = 'linear' | 'patch' | 'plain';

/** How `initParams` fills a parameter. `normal`/`trunc_normal` take the std; truncation is at 2 std. */
export type ParamInit =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number }
  | { kind: 'trunc_normal'; std: number };

/** One parameter: its official name, its checkpoint shape, its storage layout and its initialiser. */
export interface ParamSpec {
  name: string;
  /** Shape in the official checkpoint (`[out, in]` for Linear, `[D, C, p, p]` for the patch conv). */
  shape: number[];
  layout: ParamLayout;
  init: ParamInit;
}

export const ZEROS: ParamInit = { kind: 'zeros' };
export const ONES: ParamInit = { kind: 'ones' };
/** The usual ViT/CLIP init for projection matrices. */
export const TRUNC_NORMAL_002: ParamInit = { kind: 'trunc_normal', std: 0.02 };

/** Spec of a Linear layer `prefix.weight` `[out, in]` (+ `prefix.bias` `[out]`). */
export function linearSpecs(
  prefix: string,
  inFeatures: number,
  outFeatures: number,
  bias = true,
): ParamSpec[] {
  const specs: ParamSpec[] = [
    { name: `${prefix}.weight`, shape: [outFeatures, inFeatures], layout: 'linear', init: TRUNC_NORMAL_002 },
  ];
  if (bias) specs.push({ name: `${prefix}.bias`, shape: [outFeatures], layout: 'plain', init: ZEROS });
  return specs;
}

/** Spec of a LayerNorm `prefix.weight`/`prefix.bias` `[dim]` (ones/zeros). */
export function layerNormSpecs(prefix: string, dim: number): ParamSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [dim], layout: 'plain', init: ONES },
    { name: `${prefix}.bias`, shape: [dim], layout: 'plain', init: ZEROS },
  ];
}

/** Storage shape of a spec (see `Params`). */
export function storageShape(spec: Pick<ParamSpec, 'shape' | 'layout'>): number[] {
  const s = spec.shape;
  if (spec.layout === 'linear') return [s[1]!, s[0]!];
  if (spec.layout === 'patch') return [s.slice(1).reduce((a, b) => a * b, 1), s[0]!];
  return [...s];
}

/** Transpose a row-major `[rows, cols]` host matrix. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c]!;
  }
  return out;
}

/** Checkpoint layout -> storage layout, on the host (returns `data` itself for `plain`). */
export function toStorage(spec: Pick<ParamSpec, 'shape' | 'layout'>, data: Float32Array): Float32Array {
  if (spec.layout === 'plain') return data;
  const rows = spec.shape[0]!; // out features / D
  return transpose2d(data, rows, data.length / rows); // [out, in] -> [in, out]; [D, 3*p*p] -> [3*p*p, D]
}

/** Storage layout -> checkpoint layout, on the host. */
export function fromStorage(spec: Pick<ParamSpec, 'shape' | 'layout'>, data: Float32Array): Float32Array {
  if (spec.layout === 'plain') return data;
  const rows = spec.shape[0]!;
  return transpose2d(data, data.length / rows, rows); // [in, out] -> [out, in]
}

/** Draw the initial values of one spec (checkpoint layout). */
export function initValues(spec: ParamSpec, rng: Rng): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const init = spec.init;
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(init.value);
      break;
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = rng.normal() * init.std;
      break;
    case 'trunc_normal':
      for (let i = 0; i < n; i++) out[i] = rng.truncNormal(init.std);
      break;
  }
  return out;
}

/**
 * Create every parameter of `specs` as a trainable tf.Variable, drawing values from `rng` in spec order
 * (so a seed reproduces the model exactly).
 */
export function initParams(specs: ParamSpec[], rng: Rng): Params {
  const params: Params = new Map();
  for (const spec of specs) {
    if (params.has(spec.name)) throw new Error(`initParams: duplicate parameter name "${spec.name}"`);
    const values = toStorage(spec, initValues(spec, rng));
    const t = tf.tensor(values, storageShape(spec), 'float32');
    params.set(spec.name, tf.variable(t, true));
    t.dispose();
  }
  return params;
}

/** Look up a parameter, failing with the missing name (and a hint about the prefix in use). */
export function param(params: Params, name: string): tf.Variable {
  const v = params.get(name);
  if (!v) throw new Error(`missing parameter "${name}" (have ${params.size} parameters)`);
  return v;
}

/** Dispose every variable of `params` and clear the map. */
export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
  params.clear();
}
