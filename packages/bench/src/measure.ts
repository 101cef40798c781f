import * as tf from '@tensorflow/tfjs-core';
import { gflops, workloadFlops } from './flops.js';
import type { BenchShape } from './preset.js';
import { BenchWorkloads } from './workloads.js';

/**
 * Timing of the bench-s workloads on the backend already selected in this process.
 */

/** Wall-clock samples of one workload: median of `reps` timed runs after `warmup` untimed ones. */
export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  warmup: number;
  reps: number;
  samplesMs: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of an empty list');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs `fn` `warmup` times untimed, then `reps` times timed. */
export async function timeIt(fn: () => unknown, warmup: number, reps: number): Promise<Timing> {
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`timeIt: reps must be >= 1 (got ${reps})`);
  for (let i = 0; i < warmup; i++) await fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    samplesMs.push(performance.now() - t0);
  }
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    medianMs: round(median(samplesMs)),
    minMs: round(Math.min(...samplesMs)),
    maxMs: round(Math.max(...samplesMs)),
    warmup,
    reps,
    samplesMs: samplesMs.map(round),
  };
}

/** How many repetitions and which sizes to use. */
export interface MeasureOptions {
  shape: BenchShape;
  /** Untimed / timed runs of tokenize, reconstruct, text and the matMul ceiling. */
  warmup: number;
  reps: number;
  /** Untimed / timed train steps (bench-s: 2 warm-ups). */
  trainWarmup: number;
  trainReps: number;
  trainMicroBatches: number;
  /** Batch of the train step when it differs from `shape.batch` (slow backends). */
  trainBatch?: number;
  /** Side of the square matMul of the ceiling measurement. */
  ceilingSize: number;
  /** Skip the separate forward-only timing of the train graph (saves time in smoke runs). */
  skipForwardSplit?: boolean;
  seed?: number;
  onProgress?: (message: string) => void;
}

export interface Throughput {
  /** Images or prompts per second at the median. */
  perSec: number;
  /** Achieved GFLOP/s (bench-s matmul FLOPs of one batch / median time). */
  gflops: number;
  timing: Timing;
}

export interface TrainMeasurement {
  /** Images (and prompts) per step. */
  batch: number;
  /** Median wall time of one optimizer step over the whole batch (forward + backward + AdamW). */
  stepMs: number;
  gflops: number;
  microBatches: number;
  /** Median of the gradient part (forward + loss + backward) and of AdamW, from the same timed steps. */
  gradMs: number;
  adamwMs: number;
  /** Forward + loss alone (no tape), timed separately; backward ~ gradMs - forwardMs. Null when skipped. */
  forwardMs: number | null;
  backwardMs: number | null;
  timing: Timing;
}

export interface Measurement {
  batch: number;
  tokenize: Throughput;
  reconstruct: Throughput;
  text: Throughput;
  train: TrainMeasurement;
  matmulCeiling: { size: number; gflops: number; timing: Timing };
}

/** Measures every workload (and the matMul ceiling) on the current tfjs backend. */
export async function measureWorkloads(opts: MeasureOptions): Promise<Measurement> {
  const say = opts.onProgress ?? (() => {});
  const shape = opts.shape;
  const b = shape.batch;
  const flops = workloadFlops(shape, 'bench-s');
  const trainShape = { ...shape, batch: opts.trainBatch ?? b };
  const trainFlops = workloadFlops(trainShape, 'bench-s');
  const w = new BenchWorkloads(shape, opts.seed ?? 0, trainShape.batch === b ? opts.trainMicroBatches : 1);
  const wt =
    trainShape.batch === b ? w : new BenchWorkloads(trainShape, opts.seed ?? 0, opts.trainMicroBatches);
  try {
    const rate = (t: Timing, f: number): Throughput => ({
      perSec: round3((b * 1000) / t.medianMs),
      gflops: round3(gflops(f, t.medianMs)),
      timing: t,
    });
    say('matMul ceiling');
    const matmulCeiling = await ceiling(opts.ceilingSize, opts.warmup, opts.reps);
    say(`matMul ceiling: ${matmulCeiling.gflops} GFLOP/s; tokenize`);
    const tokenize = rate(await timeIt(() => w.tokenize(), opts.warmup, opts.reps), flops.tokenize);
    say(`tokenize: ${tokenize.perSec} images/s; reconstruct`);
    const reconstruct = rate(await timeIt(() => w.reconstruct(), opts.warmup, opts.reps), flops.reconstruct);
    say(`reconstruct: ${reconstruct.perSec} images/s; text`);
    const text = rate(await timeIt(() => w.text(), opts.warmup, opts.reps), flops.text);
    say(`text: ${text.perSec} prompts/s; train step`);
    const parts: { gradMs: number; adamwMs: number }[] = [];
    let timed = 0;
    const timing = await timeIt(
      () => {
        const r = wt.trainStep();
        if (++timed > opts.trainWarmup) parts.push(r);
        say(`  train step ${timed}/${opts.trainWarmup + opts.trainReps}: loss ${r.loss.toFixed(4)}`);
      },
      opts.trainWarmup,
      opts.trainReps,
    );
    let forwardMs: number | null = null;
    if (!opts.skipForwardSplit) {
      say('train forward alone');
      forwardMs = (await timeIt(() => wt.trainForward(), 1, Math.min(opts.trainReps, 3))).medianMs;
    }
    const gradMs = median(parts.map((p) => p.gradMs));
    const train: TrainMeasurement = {
      batch: trainShape.batch,
      stepMs: timing.medianMs,
      gflops: round3(gflops(trainFlops.train, timing.medianMs)),
      microBatches: opts.trainMicroBatches,
      gradMs: round3(gradMs),
      adamwMs: round3(median(parts.map((p) => p.adamwMs))),
      forwardMs,
      backwardMs: forwardMs === null ? null : round3(gradMs - forwardMs),
      timing,
    };
    say(`train step: ${train.stepMs} ms`);
    return { batch: b, tokenize, reconstruct, text, train, matmulCeiling };
  } finally {
    w.dispose();
    if (wt !== w) wt.dispose();
  }
}

/** GFLOP/s of a square `size` x `size` x `size` matMul (result read back, as the workloads do). */
export async function ceiling(
  size: number,
  warmup: number,
  reps: number,
): Promise<{ size: number; gflops: number; timing: Timing }> {
  const a = tf.randomUniform([size, size], -1, 1, 'float32', 1);
  const bm = tf.randomUniform([size, size], -1, 1, 'float32', 2);
  try {
    const timing = await timeIt(
      () => {
        const c = tf.matMul(a as tf.Tensor2D, bm as tf.Tensor2D);
        c.dataSync();
        c.dispose();
      },
      warmup,
      reps,
    );
    return { size, gflops: round3(gflops(2 * size ** 3, timing.medianMs)), timing };
  } finally {
    a.dispose();
    bm.dispose();
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
