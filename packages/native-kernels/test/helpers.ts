import * as tf from '@tensorflow/tfjs-core';
// The union package registers gradients and chained ops in Node (tfjs-core alone does not).
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  currentIsa,
  type Isa,
  installNativeKernels,
  nativeUnavailableReason,
  setIsa,
  supportedIsas,
  uninstallNativeKernels,
} from '../src/index.js';

/** Why the native tests cannot run here (printed in the suite name), or undefined. */
export const skipReason = nativeUnavailableReason();
if (skipReason) console.warn(`@qlip/native-kernels tests skipped: ${skipReason}`);

export async function useWasm(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
}

/** Deterministic values in [-2, 2) without a shared RNG (tests must not depend on each other's draws). */
export function filled(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, c) => a * c, 1);
  const v = new Float32Array(n);
  let s = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s ^ (s >>> 15), 2246822519) + 0x9e3779b9) | 0;
    v[i] = ((s >>> 8) / (1 << 24)) * 4 - 2;
  }
  return tf.tensor(v, shape);
}

/** Runs fn with the stock kernels, then with the native ones; returns [stock, native] host copies. */
export function stockAndNative<T>(
  fn: () => T,
  read: (r: T) => Float32Array[],
): [Float32Array[], Float32Array[]] {
  uninstallNativeKernels();
  const stock = read(fn());
  if (!installNativeKernels()) throw new Error('installNativeKernels() returned undefined');
  const native = read(fn());
  return [stock, native];
}

/** Largest |x - y| over max |y| (1e-30 floor for all-zero references). */
export function relErr(x: Float32Array, y: Float32Array): number {
  if (x.length !== y.length) return Number.POSITIVE_INFINITY;
  let err = 0;
  let scale = 1e-30;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) !== Number.isNaN(y[i])) return Number.POSITIVE_INFINITY;
    err = Math.max(err, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return err / scale;
}

export const readTensor = (t: tf.Tensor): Float32Array[] => {
  const d = t.dataSync() as Float32Array;
  t.dispose();
  return [Float32Array.from(d)];
};

/** Host copies of float tensors, each disposed after it is read. */
export const readAll = (ts: tf.Tensor[]): Float32Array[] =>
  ts.map((t) => {
    const d = Float32Array.from(t.dataSync() as Float32Array);
    t.dispose();
    return d;
  });

/** Runs fn once on every compiled ISA instance (AVX-512, AVX2, portable) this CPU runs, then restores the ISA. */
export function onEveryIsa(fn: (isa: Isa) => void): void {
  const before = currentIsa();
  try {
    for (const isa of supportedIsas()) {
      setIsa(isa);
      fn(isa);
    }
  } finally {
    setIsa(before);
  }
}
