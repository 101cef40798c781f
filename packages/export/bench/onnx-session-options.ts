/**
 * ONNX Runtime session options for tokenize, measured against each other in one run (bench-s image encoder,
 * pixels [32, 3, 64, 64] -> indices, one intra-op thread), interleaved round by round so a busy neighbour on
 * a shared machine slows every variant alike. Also lists the operators of ORT's optimised graph (which
 * fusions fired). Prints one JSON object. Run: `node --import tsx bench/onnx-session-options.ts`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { benchConfig } from '@qlip/trainer';
import * as ort from 'onnxruntime-node';
import { BATCH as BATCH_DIM, exportOnnx, OnnxQLIP, TOKENIZE_SESSION_OPTIONS } from '../src/index.js';
import { onnx } from '../src/onnx/proto.js';

const BATCH = 32;
const ROUNDS = Number(process.env.QLIP_BENCH_ROUNDS ?? 7);

const base: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};
const VARIANTS: Record<string, ort.InferenceSession.SessionOptions> = {
  before: base,
  no_spinning: { ...base, extra: { session: { intra_op: { allow_spinning: '0' } } } },
  batch_fixed: { ...base, freeDimensionOverrides: { [BATCH_DIM]: BATCH } },
  no_arena_no_pattern: { ...base, enableCpuMemArena: false, enableMemPattern: false },
  extended_only: { ...base, graphOptimizationLevel: 'extended' },
  after: { ...TOKENIZE_SESSION_OPTIONS, intraOpNumThreads: 1 },
};

async function benchSModel(): Promise<QLIPModel> {
  return QLIPModel.create(benchConfig(), 0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function opHistogram(file: string): Promise<Record<string, number>> {
  const m = onnx.ModelProto.decode(await readFile(file));
  const h: Record<string, number> = {};
  for (const n of m.graph?.node ?? []) {
    const k = n.domain ? `${n.domain}.${n.opType}` : String(n.opType);
    h[k] = (h[k] ?? 0) + 1;
  }
  return h;
}

async function main(): Promise<void> {
  await selectBackend('wasm');
  const model = await benchSModel();
  const dir = await mkdtemp(join(tmpdir(), 'qlip-bench-ortopt-'));
  try {
    await exportOnnx(model, dir, { graphs: ['image_encoder'] });
    const rng = new Rng(0);
    const pixels = Float32Array.from({ length: BATCH * 3 * 64 * 64 }, () => rng.next() * 2 - 1);
    const runners: Record<string, OnnxQLIP> = {};
    for (const [name, session] of Object.entries(VARIANTS)) {
      runners[name] = await OnnxQLIP.load(dir, { threads: 1, session });
      for (let i = 0; i < 2; i++) await runners[name]!.encodeToIndices(pixels);
    }
    const ms: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
    const ref = (await runners.before!.encodeToIndices(pixels)).indices;
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, rt] of Object.entries(runners)) {
        const t0 = performance.now();
        const out = await rt.encodeToIndices(pixels);
        ms[name]!.push(performance.now() - t0);
        if (r === 0 && !out.indices.every((v, i) => v === ref[i])) throw new Error(`${name}: indices differ`);
      }
    }
    for (const rt of Object.values(runners)) await rt.release();
    const optimised = join(dir, 'optimised.onnx');
    await (
      await ort.InferenceSession.create(join(dir, 'image_encoder.onnx'), {
        ...base,
        optimizedModelFilePath: optimised,
      })
    ).release();
    const r1 = (x: number) => Math.round(x * 10) / 10;
    console.log(
      JSON.stringify({
        bench: 'onnx-session-options',
        model: 'bench-s image encoder',
        batch: BATCH,
        threads: 1,
        rounds: ROUNDS,
        cpu: cpus()[0]?.model ?? 'unknown',
        load_average_1m: r1(loadavg()[0]!),
        images_per_s: Object.fromEntries(
          Object.entries(ms).map(([k, v]) => [k, r1(BATCH / (median(v) / 1000))]),
        ),
        best_images_per_s: Object.fromEntries(
          Object.entries(ms).map(([k, v]) => [k, r1(BATCH / (Math.min(...v) / 1000))]),
        ),
        optimised_graph_ops: await opHistogram(optimised),
        source_graph_ops: await opHistogram(join(dir, 'image_encoder.onnx')),
      }),
    );
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
