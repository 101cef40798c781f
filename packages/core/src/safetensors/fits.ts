import { isFloatDType } from './convert.js';
import type { DType } from './types.js';

/** What a tensor is checked against: its shape and, with `float`, a floating-point dtype (F32, F16, BF16). */
export interface TensorSpec {
  shape: readonly number[];
  float?: boolean;
}

/**
 * How a tensor (a checkpoint entry, a host tensor, a tf variable) departs from `spec`: `shape` when its rank
 * or a size differs, `dtype` when the spec asks for a float and it holds another type, undefined when it fits.
 * The shape is checked first. Callers word the error (they know the file and what expected the shape).
 */
export function specMismatch(
  t: { shape: readonly number[]; dtype?: string },
  spec: TensorSpec,
): 'shape' | 'dtype' | undefined {
  if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) return 'shape';
  if (spec.float && !isFloatDType(t.dtype as DType)) return 'dtype';
  return undefined;
}
