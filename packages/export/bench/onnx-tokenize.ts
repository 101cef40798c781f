/**
 * Tokenize throughput of the bench-s model shape (fixtures/bench-s.json) through ONNX Runtime: pixels
 * [32, 3, 64, 64] -> indices [32, 64], at 1 and 2 intra-op threads. Prints one JSON object. Run: `pnpm bench`
 * (QLIP_BENCH_QUICK=1 for fewer repetitions); @qlip/bench divides the 1-thread rate by the PyTorch peer's,
 * measured in the same run (`summary.onnxTokenizeSpeed`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, registerBackendAccelerator, selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { benchConfig, benchSSpec } from '@qlip/trainer';
import { exportOnnx, OnnxQLIP } from '../src/index.js';
import { AgreementCounter } from '../src/runtime/agreement.js';

const quick = process.env.QLIP_BENCH_QUICK === '1';
const BATCH = 32;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Runs {
  runs: number[];
  cpu: number[];
}

async function timeBatch(rt: OnnxQLIP, pixels: Float32Array, into: Runs): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await rt.encodeToIndices(pixels);
  into.runs.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  into.cpu.push((c.user + c.system) / 1000);
}

const r1 = (x: number) => Math.round(x * 10) / 10;

function summarise({ runs, cpu }: Runs, threads: number): Record<string, number | number[]> {
  const ms = median(runs);
  return {
    images_per_s: r1(BATCH / (ms / 1000)),
    best_images_per_s: r1(BATCH / (Math.min(...runs) / 1000)),
    median_ms: r1(ms),
    runs_ms: runs.map(r1),
    // On a shared machine the wall clock includes time other processes held the cores; CPU time per batch
    // (all of ONNX Runtime's threads) is what the work itself costs. At 1 thread it bounds the uncontended rate.
    cpu_ms_per_batch: r1(median(cpu)),
    cpu_share_of_wall: Math.round((median(cpu) / ms) * 100) / 100,
    ...(threads === 1 ? { images_per_cpu_s: r1(BATCH / (median(cpu) / 1000)) } : {}),
  };
}

async function main(): Promise<void> {
  const spec = benchSSpec();
  registerBackendAccelerator(nativeKernelsAccelerator);
  await selectBackend('wasm');
  const model = QLIPModel.create(benchConfig(), 0);
  const dir = await mkdtemp(join(tmpdir(), 'qlip-bench-onnx-'));
  const reps = quick ? 3 : 7;
  try {
    await exportOnnx(model, dir, { graphs: ['image_encoder'] });
    // What prepareOnnx caches for --precision int8.
    const int8Dir = join(dir, 'int8');
    await exportOnnx(model, int8Dir, { graphs: ['image_encoder'], precision: 'int8' });
    const rng = new Rng(0);
    const size = spec.image.size;
    const pixels = Float32Array.from({ length: BATCH * 3 * size * size }, () => rng.next() * 2 - 1);
    const results: Record<string, Record<string, number | number[]>> = {};
    const int8: Record<string, Record<string, number | number[]>> = {};
    const agreement = new AgreementCounter(model.bits);
    for (const threads of [1, 2]) {
      const rt = await OnnxQLIP.load(dir, { threads });
      const q = await OnnxQLIP.load(int8Dir, { threads });
      for (let i = 0; i < 2; i++) await rt.encodeToIndices(pixels); // warm-up (session creation, allocator)
      for (let i = 0; i < 2; i++) await q.encodeToIndices(pixels);
      if (threads === 1)
        agreement.add(
          (await rt.encodeToIndices(pixels)).indices,
          (await q.encodeToIndices(pixels)).indices,
          BATCH,
        );
      // Alternating batch by batch, so a busy neighbour on a shared machine slows both alike.
      const fp32Runs = { runs: [] as number[], cpu: [] as number[] };
      const int8Runs = { runs: [] as number[], cpu: [] as number[] };
      for (let i = 0; i < reps; i++) {
        await timeBatch(rt, pixels, fp32Runs);
        await timeBatch(q, pixels, int8Runs);
      }
      await rt.release();
      await q.release();
      results[`threads_${threads}`] = summarise(fp32Runs, threads);
      int8[`threads_${threads}`] = summarise(int8Runs, threads);
    }
    console.log(
      JSON.stringify({
        bench: 'onnx-tokenize',
        model: 'bench-s',
        runtime: 'onnxruntime-node 1.30.0 (CPU)',
        batch: BATCH,
        image: [3, size, size],
        tokens: (size / spec.patch_embed.patch_size) ** 2,
        bits: spec.bottleneck.bsq.bits,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        repetitions: reps,
        load_average_1m: Math.round(loadavg()[0]! * 100) / 100,
        ...results,
        int8: {
          lower_precision: true,
          what: 'transformer blocks dynamically quantised (u8 activations x s8 per-channel weights); indices are not identical to fp32',
          ...int8,
          // bench-s has random weights and random pixels; docs/performance.md has the trained MNIST model's figure.
          agreement_with_fp32: agreement.result(),
        },
      }),
    );
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
