import type { MeasureOptions } from './measure.js';
import { BENCH_S, BENCH_TINY } from './preset.js';

/**
 * The backend configurations `runBench` measures, each in its own process (clean peak RSS, and the
 * environment variables that @qlip/core reads when it selects the backend).
 */

export const VARIANT_IDS = ['wasm-native-1t', 'wasm-native', 'wasm', 'cpu', 'tensorflow'] as const;
export type VariantId = (typeof VARIANT_IDS)[number];

export interface Variant {
  id: VariantId;
  /** What `selectBackend` is asked for. */
  backend: 'wasm' | 'cpu' | 'tensorflow';
  /** Environment of the child process. */
  env: Record<string, string>;
  label: string;
}

export const VARIANTS: Record<VariantId, Variant> = {
  'wasm-native-1t': {
    id: 'wasm-native-1t',
    backend: 'wasm',
    env: { QLIP_NATIVE: '1', QLIP_NATIVE_THREADS: '1' },
    label: 'tfjs wasm + @qlip/native-kernels SGEMM on 1 thread (equal thread count with the PyTorch peer)',
  },
  'wasm-native': {
    id: 'wasm-native',
    backend: 'wasm',
    env: { QLIP_NATIVE: '1' },
    label: 'tfjs wasm + @qlip/native-kernels SGEMM, default threads (all cores, at most 8)',
  },
  wasm: {
    id: 'wasm',
    backend: 'wasm',
    env: { QLIP_NATIVE: '0' },
    label: 'stock tfjs wasm (QLIP_NATIVE=0), single thread',
  },
  cpu: { id: 'cpu', backend: 'cpu', env: {}, label: 'tfjs pure-JavaScript cpu backend' },
  tensorflow: {
    id: 'tensorflow',
    backend: 'tensorflow',
    env: {},
    label: 'native TensorFlow (@tensorflow/tfjs-node or -gpu)',
  },
};

/** Which variants a `--backend` choice covers. */
export function variantsFor(backend: string): VariantId[] {
  switch (backend) {
    case 'auto':
      return [...VARIANT_IDS];
    case 'wasm':
      return ['wasm-native-1t', 'wasm-native', 'wasm'];
    case 'cpu':
      return ['cpu'];
    case 'tensorflow':
      return ['tensorflow'];
    default:
      throw new Error(`bench: unknown backend "${backend}" (expected auto, wasm, cpu or tensorflow)`);
  }
}

/** Measurement settings without the progress callback (they cross a process boundary as JSON). */
export type Settings = Omit<MeasureOptions, 'onProgress'>;

/**
 * Settings per variant. Full runs follow bench-s's timing rule (median of 5 after warm-up, 2 train warm-ups)
 * on the primary variants; the slow ones get fewer repetitions (and cpu a smaller batch), and every
 * departure from the rule is listed in `deviations`.
 */
export function settingsFor(
  id: VariantId,
  opts: { quick?: boolean; reps?: number } = {},
): { settings: Settings; deviations: string[] } {
  const deviations: string[] = [];
  let s: Settings;
  if (opts.quick) {
    s = {
      shape: BENCH_TINY,
      warmup: 1,
      reps: 2,
      trainWarmup: 1,
      trainReps: 2,
      trainMicroBatches: 1,
      ceilingSize: 128,
      skipForwardSplit: true,
    };
    deviations.push('quick: tiny model (not bench-s), 2 timed repetitions; a smoke run, not a measurement');
  } else if (id === 'cpu') {
    s = {
      shape: { ...BENCH_S, batch: 2 },
      warmup: 0,
      reps: 1,
      trainWarmup: 0,
      trainReps: 1,
      trainMicroBatches: 1,
      ceilingSize: 256,
      skipForwardSplit: true,
    };
    deviations.push(
      'cpu is pure JavaScript (~50x slower than wasm + native): batch 2, one timed run of each workload with ' +
        'no warm-up, 256^3 matMul ceiling; per-image rates are indicative, the train step is not comparable',
    );
  } else {
    // Budget: `pnpm bench` should stay under ~10 minutes on 2 cores. The equal-thread variant follows
    // bench-s's rule exactly; the others trade repetitions for time and say so.
    const primary = id === 'wasm-native-1t' || id === 'tensorflow';
    const stock = id === 'wasm';
    s = {
      shape: BENCH_S,
      warmup: 1,
      reps: primary ? 5 : 3,
      trainWarmup: primary ? 2 : stock ? 0 : 1,
      trainReps: primary ? 5 : stock ? 1 : 2,
      // Stock wasm's transposed matMuls make a batch-32 step take minutes.
      trainBatch: stock ? 4 : undefined,
      // One batch-32 tape: @qlip/trainer's backward frees gradients and saved tensors as it goes, so it
      // fits the wasm heap (tfjs's own kept everything until the end: ~7 GB, then 2 x 16 micro-batches).
      trainMicroBatches: 1,
      ceilingSize: 1024,
      skipForwardSplit: !primary,
    };
    if (stock) {
      deviations.push(
        'stock wasm: 3 timed repetitions; its transposed matMuls (every backward matmul) are ~10x slower, so a ' +
          'batch-32 train step takes minutes (167 s measured once on 2026-11-28): the train step is timed once, ' +
          'without warm-up, at batch 4, no forward/backward split; not comparable with PyTorch',
      );
    } else if (!primary) {
      deviations.push(
        '3 timed repetitions; train step 1 warm-up and 2 timed steps (bench-s: 2 and >= 5), no forward/backward split',
      );
    }
  }
  if (opts.reps !== undefined) {
    if (!Number.isInteger(opts.reps) || opts.reps < 1)
      throw new Error(`bench: --reps must be >= 1 (got ${opts.reps})`);
    s = { ...s, reps: opts.reps, trainReps: opts.reps };
    deviations.push(`--reps ${opts.reps}: ${opts.reps} timed repetitions of every workload`);
  }
  return { settings: s, deviations };
}
