import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { blockFlops, gflops, workloadFlops } from '../src/flops.js';
import { BENCH_S, type BenchShape } from '../src/preset.js';
import { BenchWorkloads } from '../src/workloads.js';

/** Small and lopsided, so a swapped dimension changes the count. */
const SHAPE: BenchShape = {
  imageSize: 16,
  patchSize: 8,
  width: 16,
  visionDepth: 2,
  decoderDepth: 1,
  heads: 2,
  mlpHidden: 24,
  bits: 18,
  groupSize: 9,
  textWidth: 8,
  textDepth: 1,
  textHeads: 2,
  textMlpHidden: 12,
  contextLength: 16,
  vocabSize: 64,
  projectionDim: 12,
  batch: 3,
};

/** 2*M*N*K of every matmul kernel tfjs ran in `f`, from the recorded input and output shapes. */
async function executedMatmulFlops(f: () => unknown): Promise<number> {
  const info = await tf.profile(async () => {
    await f();
  });
  let total = 0;
  for (const k of info.kernels) {
    if (k.name !== 'BatchMatMul' && k.name !== '_FusedMatMul') continue;
    const a = k.inputShapes[0]!;
    const out = k.outputShapes[0]!;
    const m = out[out.length - 2]!;
    const n = out[out.length - 1]!;
    const batch = out.slice(0, -2).reduce((x, y) => x * y, 1);
    const kk = (a[a.length - 2]! * a[a.length - 1]!) / m; // the operand's other dimension, transposed or not
    total += 2 * batch * m * n * kk;
  }
  return total;
}

describe('matmul FLOP counts', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('blockFlops counts 4 DxD projections, 2 MLP layers, QK^T and AV', () => {
    // b=1, t=2, d=3, mlp=5: 2*2*(4*9 + 2*15) + 4*1*4*3 = 264 + 48
    expect(blockFlops(1, 2, 3, 5)).toBe(312);
    expect(gflops(2e9, 1000)).toBe(2);
  });

  it('bench-s train = 3x forward minus the patch-embed input gradient', () => {
    const f = workloadFlops(BENCH_S);
    expect(f.train).toBe(3 * f.trainForward - f.parts.patchEmbed);
    expect(f.reconstruct).toBeGreaterThan(f.tokenize);
    // The official MLP bottleneck adds one [B*N, 256] x [256, 256] matmul each way.
    const extra = 2 * 32 * 64 * 256 * 256;
    expect(workloadFlops(BENCH_S, 'official-mlp').tokenize - f.tokenize).toBe(extra);
    expect(workloadFlops(BENCH_S, 'official-mlp').reconstruct - f.reconstruct).toBe(2 * extra);
  });

  it('matches the matmuls the model actually runs (official-mlp bottleneck), workload by workload', async () => {
    const w = new BenchWorkloads(SHAPE);
    try {
      const f = workloadFlops(SHAPE, 'official-mlp');
      expect(await executedMatmulFlops(() => w.tokenize())).toBe(f.tokenize);
      expect(await executedMatmulFlops(() => w.reconstruct())).toBe(f.reconstruct);
      expect(await executedMatmulFlops(() => w.text())).toBe(f.text);
      expect(await executedMatmulFlops(() => w.trainForward())).toBe(f.trainForward);
      // tfjs differentiates only inputs that depend on a variable: the pixels (patch embed, as the
      // convention says) and the constant BSQ group codebook get no gradient matmul.
      expect(await executedMatmulFlops(() => w.trainStep())).toBe(f.train - f.parts.entropyLogits);
    } finally {
      w.dispose();
    }
  });

  it('micro-batching keeps the matmul FLOPs except the smaller B x B contrastive logits', async () => {
    const shape = { ...SHAPE, batch: 4 };
    const w = new BenchWorkloads(shape, 0, 2);
    try {
      const f = workloadFlops(shape, 'official-mlp');
      const contrastive = f.parts.contrastiveLogits; // 2*B*B*E for the whole batch, x3 with backward
      const perHalf = 2 * 2 * 2 * shape.projectionDim;
      expect(await executedMatmulFlops(() => w.trainStep())).toBe(
        f.train - f.parts.entropyLogits - 3 * contrastive + 3 * 2 * perHalf,
      );
    } finally {
      w.dispose();
    }
  });
});
