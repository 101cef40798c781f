import { tinyConfig as modelTinyConfig, type TinyOptions } from '@qlip/test-utils';

export { maxAbsDiff, REFERENCE_FIXTURE as FIXTURE, readReference as readFixture } from '@qlip/test-utils';
export type { TinyOptions };

/** Row-wise L2 normalisation of `[rows, dim]` host data (float64). */
export function normalizeRows(x: Float32Array, dim: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[r * dim + j]! ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < dim; j++) out[r * dim + j] = x[r * dim + j]! / n;
  }
  return out;
}

/** The model tests' tiny config with two layers per tower (export covers layer stacking). */
export function tinyConfig(o: TinyOptions = {}) {
  return modelTinyConfig({ layers: 2, textLayers: 2, ...o });
}
