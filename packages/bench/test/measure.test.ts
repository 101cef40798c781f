import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { median, timeIt } from '../src/measure.js';
import type { OnnxEntry } from '../src/onnx.js';
import { type PeerEntry, parsePeerOutput } from '../src/peer.js';
import { BENCH_S } from '../src/preset.js';
import { profileTrainStep } from '../src/profile.js';
import { onnxVsPeer, pytorchRatios, runBench } from '../src/run.js';
import { nativeSgemm, type VariantResult } from '../src/variant-run.js';
import { settingsFor, variantsFor } from '../src/variants.js';

describe('backend detail', () => {
  it('names the GEMM that ran and its threads: our ISA path or the system OpenBLAS', () => {
    expect(nativeSgemm('WebAssembly (single thread), native SGEMM avx512, 2 threads')).toEqual({
      sgemm: 'avx512',
      threads: 2,
    });
    expect(
      nativeSgemm('WebAssembly (single thread), native SGEMM openblas 0.3.21 (Cooperlake), 1 thread'),
    ).toEqual({
      sgemm: 'openblas 0.3.21 (Cooperlake)',
      threads: 1,
    });
    expect(nativeSgemm('WebAssembly (single thread)')).toBeUndefined();
  });
});

describe('timing', () => {
  it('median of odd and even lists; empty is an error', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/empty/);
  });

  it('timeIt runs warm-ups untimed, then the timed repetitions', async () => {
    let calls = 0;
    const t = await timeIt(
      () => {
        calls++;
      },
      2,
      5,
    );
    expect(calls).toBe(7);
    expect(t.samplesMs).toHaveLength(5);
    expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
    expect(t.medianMs).toBeLessThanOrEqual(t.maxMs);
    await expect(timeIt(() => {}, 0, 0)).rejects.toThrow(/reps must be >= 1/);
  });
});

/** The figures as torch_peer.py prints them. */
const peerJson = () => ({
  tokenize: { images_per_s: 104 },
  reconstruct: { images_per_s: 37 },
  text_embed: { prompts_per_s: 227 },
  train_step: { ms_median: 3000, batch: BENCH_S.batch },
  peak_rss_mib: { after_train: 1365 },
  software: { blas: 'openblas', openblas_core: 'SkylakeX' },
});

describe('variants', () => {
  it('full runs follow bench-s timing on the primary variants and list every departure', () => {
    const native = settingsFor('wasm-native-1t');
    expect(native.settings).toMatchObject({
      shape: BENCH_S,
      warmup: 1,
      reps: 5,
      trainWarmup: 2,
      trainReps: 5,
    });
    // One batch-32 tape: no micro-batching, so no departure from bench-s.
    expect(native.settings.trainMicroBatches).toBe(1);
    expect(native.deviations).toEqual([]);
    const cpu = settingsFor('cpu');
    expect(cpu.settings.shape.batch).toBe(2);
    expect(cpu.deviations.join(' ')).toMatch(/batch 2/);
    const stock = settingsFor('wasm');
    expect(stock.settings.trainBatch).toBe(4);
    expect(stock.deviations.join(' ')).toMatch(/at batch 4/);
    expect(settingsFor('wasm', { reps: 7 }).settings.trainReps).toBe(7);
    expect(() => settingsFor('wasm', { reps: 0 })).toThrow(/--reps/);
    expect(variantsFor('wasm')).toEqual(['wasm-native-1t', 'wasm-native', 'wasm']);
    expect(() => variantsFor('gpu')).toThrow(/unknown backend "gpu"/);
  });

  it('ratios to PyTorch: speed for throughputs, time ratio for the train step, only for bench-s', () => {
    const t = { medianMs: 1, minMs: 1, maxMs: 1, warmup: 1, reps: 1, samplesMs: [1] };
    const thr = (perSec: number) => ({ perSec, gflops: 1, timing: t });
    const r: VariantResult = {
      id: 'wasm-native-1t',
      label: '',
      available: true,
      backend: { name: 'wasm', detail: '' },
      matmulThreads: 1,
      sgemm: 'avx512',
      settings: settingsFor('wasm-native-1t').settings,
      deviations: [],
      peakRssMB: 2048,
      measurement: {
        batch: 32,
        tokenize: thr(208),
        reconstruct: thr(18.5),
        text: thr(227),
        train: {
          batch: 32,
          stepMs: 4500,
          gflops: 1,
          microBatches: 2,
          gradMs: 1,
          adamwMs: 1,
          forwardMs: null,
          backwardMs: null,
          timing: t,
        },
        matmulCeiling: { size: 8, gflops: 1, timing: t },
      },
    };
    // The peer's figures as torch_peer.py prints them (measured in the same run by runBench).
    const peer: PeerEntry = {
      measured: true,
      python: 'python3',
      script: 'torch_peer.py',
      wallSec: 1,
      ...parsePeerOutput(peerJson(), 1),
    };
    const q = pytorchRatios(r, peer)!;
    expect(peer.measured && peer.blas).toBe('openblas (SkylakeX)');
    expect(parsePeerOutput({ ...peerJson(), software: { blas: 'unknown' } }, 1).blas).toMatch(/not OpenBLAS/);
    expect(q.tokenizeSpeed).toBe(2);
    expect(q.reconstructSpeed).toBe(0.5);
    expect(q.textSpeed).toBe(1);
    expect(q.trainStepTimeRatio).toBe(1.5);
    expect(q.peakRssRatio).toBe(1.5); // 2048 / 1365 MiB
    const ort = (rate: number): OnnxEntry => ({
      available: true,
      script: 's',
      result: { threads_1: { images_per_s: rate } },
    });
    expect(onnxVsPeer(ort(156), peer)).toBe(1.5);
    expect(onnxVsPeer(ort(156), { measured: false, reason: 'no torch' })).toBeNull();
    expect(onnxVsPeer({ available: false, reason: 'no script' }, peer)).toBeNull();
    // No peer measured in this run: no ratio at all (never a constant typed in).
    expect(pytorchRatios(r, { measured: false, reason: 'no torch' })).toBeUndefined();
    const quick = { ...r, settings: settingsFor('wasm-native-1t', { quick: true }).settings };
    expect(pytorchRatios(quick, peer)).toBeUndefined();
    expect(() => parsePeerOutput({ tokenize: {} }, 1)).toThrow(/no number at tokenize.images_per_s/);
    expect(q.note).toBeUndefined(); // 1 thread against the 1-thread peer
    // Two threads: compared with the peer run on two threads, ONNX Runtime likewise; never across counts.
    const peer2: PeerEntry = { ...peer, ...parsePeerOutput(peerJson(), 2), tokenizeImagesPerSec: 208 };
    const r2 = { ...r, matmulThreads: 2 };
    expect(pytorchRatios(r2, peer2)!.tokenizeSpeed).toBe(1);
    expect(pytorchRatios(r2, peer2)!.note).toBeUndefined();
    expect(pytorchRatios(r2, peer)!.note).toMatch(/matmuls on 2 threads vs PyTorch's 1/);
    const ort2: OnnxEntry = {
      available: true,
      script: 's',
      result: { threads_1: { images_per_s: 156 }, threads_2: { images_per_s: 312 } },
    };
    expect(onnxVsPeer(ort2, peer2)).toBe(1.5);
    expect(onnxVsPeer(ort2, peer)).toBe(1.5);
    expect(onnxVsPeer(ort(156), peer2)).toBeNull(); // no 2-thread ONNX figure: no ratio
    // The lower-precision int8 graphs' rate is its own ratio, never mixed with fp32's.
    const withInt8: OnnxEntry = {
      available: true,
      script: 's',
      result: { threads_1: { images_per_s: 156 }, int8: { threads_1: { images_per_s: 260 } } },
    };
    expect(onnxVsPeer(withInt8, peer)).toBe(1.5);
    expect(onnxVsPeer(withInt8, peer, 'int8')).toBe(2.5);
    expect(onnxVsPeer(ort(156), peer, 'int8')).toBeNull(); // no int8 figure: no ratio
  });
});

describe('runBench in-process on cpu (tiny model)', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('returns one JSON-ready object with positive figures and no leaked tensors', async () => {
    const before = tf.memory().numTensors;
    const r = await runBench({ variants: ['cpu'], quick: true, isolate: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(r.quick).toBe(true);
    const [cpu] = r.backends;
    if (!cpu?.available) throw new Error(`cpu variant did not run: ${JSON.stringify(cpu)}`);
    const m = cpu.measurement;
    for (const x of [m.tokenize, m.reconstruct, m.text]) {
      expect(x.perSec).toBeGreaterThan(0);
      expect(x.gflops).toBeGreaterThan(0);
      expect(x.timing.samplesMs).toHaveLength(2);
    }
    expect(m.train.stepMs).toBeGreaterThan(0);
    expect(m.train.timing.reps).toBe(2);
    expect(m.matmulCeiling.gflops).toBeGreaterThan(0);
    expect(cpu.peakRssMB).toBeGreaterThan(0);
    expect(cpu.vsPyTorch).toBeUndefined(); // tiny model: no comparison
    expect(r.onnx.available).toBe(false);
    expect(r.pytorch).toEqual({ measured: false, reason: 'quick run (tiny model, not bench-s)' });
    expect(r.pytorchAllCores).toBeNull();
    expect(r.summary.allCores).toBeNull();
    expect(r.flops.executed.train).toBeGreaterThan(r.flops.benchS.train);
  });

  it('profiles a train step by kernel, slowest first', async () => {
    const p = await profileTrainStep(settingsFor('cpu', { quick: true }).settings.shape, { top: 5 });
    expect(p.kernels).toHaveLength(5);
    expect(p.kernels[0]!.ms).toBeGreaterThanOrEqual(p.kernels[4]!.ms);
    expect(p.kernelCalls).toBeGreaterThan(100);
    expect(p.kernelMs).toBeGreaterThan(0);
    expect(p.kernels.map((k) => k.name)).toContain('BatchMatMul');
  });
});
