import * as tf from '@tensorflow/tfjs-core';
import type { BenchShape } from './preset.js';
import { BenchWorkloads } from './workloads.js';

/** Where a train step's time goes, per tfjs kernel (forward and gradient kernels together). */
export interface KernelProfile {
  /** Wall time of the profiled step (profiling adds a little per-kernel overhead). */
  wallMs: number;
  /** Sum of the kernels' own times; wallMs - kernelMs is JavaScript overhead (engine, tape, tidy). */
  kernelMs: number;
  kernelCalls: number;
  peakBytes: number;
  /** Per kernel name, slowest first. */
  kernels: {
    name: string;
    ms: number;
    share: number;
    calls: number;
    topShapes: { shapes: string; ms: number; calls: number }[];
  }[];
}

/**
 * Profiles one train step (after `warmup` unprofiled ones) with `tf.profile`, on the current backend.
 * Kernel times come from the backend's timer (wall time around each kernel on wasm and cpu).
 */
export async function profileTrainStep(
  shape: BenchShape,
  opts: { microBatches?: number; warmup?: number; top?: number } = {},
): Promise<KernelProfile> {
  const w = new BenchWorkloads(shape, 0, opts.microBatches ?? 1);
  try {
    for (let i = 0; i < (opts.warmup ?? 1); i++) w.trainStep();
    const t0 = performance.now();
    const info = await tf.profile(() => {
      w.trainStep();
    });
    const wallMs = performance.now() - t0;
    const byName = new Map<
      string,
      { ms: number; calls: number; shapes: Map<string, { ms: number; calls: number }> }
    >();
    let kernelMs = 0;
    for (const k of info.kernels) {
      const ms = Number(k.kernelTimeMs) || 0;
      kernelMs += ms;
      const e = byName.get(k.name) ?? { ms: 0, calls: 0, shapes: new Map() };
      e.ms += ms;
      e.calls += 1;
      const key = JSON.stringify(k.inputShapes);
      const s = e.shapes.get(key) ?? { ms: 0, calls: 0 };
      s.ms += ms;
      s.calls += 1;
      e.shapes.set(key, s);
      byName.set(k.name, e);
    }
    const r = (x: number) => Math.round(x * 10) / 10;
    const kernels = [...byName.entries()]
      .map(([name, e]) => ({
        name,
        ms: r(e.ms),
        share: Math.round((e.ms / kernelMs) * 1000) / 1000,
        calls: e.calls,
        topShapes: [...e.shapes.entries()]
          .sort((a, b) => b[1].ms - a[1].ms)
          .slice(0, 3)
          .map(([shapes, s]) => ({ shapes, ms: r(s.ms), calls: s.calls })),
      }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, opts.top ?? 25);
    return {
      wallMs: r(wallMs),
      kernelMs: r(kernelMs),
      kernelCalls: info.kernels.length,
      peakBytes: info.peakBytes,
      kernels,
    };
  } finally {
    w.dispose();
  }
}
