/**
 * The ONNX Runtime graph variants of tokenize against each other, interleaved round by round in one process
 * (bench-s image encoder, pixels [32, 3, 64, 64] -> indices, one intra-op thread): fp32 standard (the
 * default), fp32 with com.microsoft.MultiHeadAttention, int8 (dynamic quantisation) and int8 + MHA. Indices
 * of each against fp32 standard (identical %, bits agreeing %) and the operators of ORT's optimised graphs.
 * With QLIP_TORCH_PEER=<torch_peer.py> (and a Python with torch: $QLIP_PYTHON, else /usr/bin/python3) each
 * round also runs one PyTorch peer tokenize of the same batch size at 1 thread (peer-tokenize.py, a child
 * process), so every variant gets a ratio to the peer from the same rounds.
 * Prints one JSON object. Run: `node --import tsx bench/onnx-variants.ts` (QLIP_BENCH_ROUNDS, default 9;
 * QLIP_BENCH_VARIANTS=fp32_mha,... a subset).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Rng, selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { benchConfig } from '@qlip/trainer';
import * as ort from 'onnxruntime-node';
import { exportOnnx, type OnnxExportOptions, OnnxQLIP, TOKENIZE_SESSION_OPTIONS } from '../src/index.js';
import { onnx } from '../src/onnx/proto.js';
import { AgreementCounter } from '../src/runtime/agreement.js';

const BATCH = 32;
const ROUNDS = Number(process.env.QLIP_BENCH_ROUNDS ?? 9);
const ALL: Record<string, Pick<OnnxExportOptions, 'precision' | 'attention'>> = {
  fp32: {},
  fp32_mha: { attention: 'ort' },
  int8: { precision: 'int8' },
  int8_mha: { precision: 'int8', attention: 'ort' },
};
// QLIP_BENCH_VARIANTS=fp32,fp32_mha: a subset (fp32, the reference, is always run).
const picked = (process.env.QLIP_BENCH_VARIANTS ?? Object.keys(ALL).join(',')).split(',');
const VARIANTS = Object.fromEntries(Object.entries(ALL).filter(([k]) => k === 'fp32' || picked.includes(k)));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r1 = (x: number) => Math.round(x * 10) / 10;

async function optimisedOps(file: string, out: string): Promise<Record<string, number>> {
  await (
    await ort.InferenceSession.create(file, {
      ...TOKENIZE_SESSION_OPTIONS,
      intraOpNumThreads: 1,
      optimizedModelFilePath: out,
    })
  ).release();
  const h: Record<string, number> = {};
  for (const n of onnx.ModelProto.decode(await readFile(out)).graph?.node ?? []) {
    const k = n.domain ? `${n.domain}.${n.opType}` : String(n.opType);
    h[k] = (h[k] ?? 0) + 1;
  }
  return h;
}

/** One PyTorch tokenize per call through peer-tokenize.py (wall and CPU ms), or null without QLIP_TORCH_PEER. */
async function startPeer(): Promise<{
  run: () => Promise<{ ms: number; cpu_ms: number }>;
  stop: () => void;
} | null> {
  const script = process.env.QLIP_TORCH_PEER;
  if (!script) return null;
  const server = fileURLToPath(new URL('./peer-tokenize.py', import.meta.url));
  const python = process.env.QLIP_PYTHON ?? '/usr/bin/python3';
  const child = spawn(python, [server, script, '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string);
  const ready = await next();
  if (ready.batch !== BATCH) throw new Error(`peer batch ${ready.batch}, expected ${BATCH}`);
  const run = async () => {
    child.stdin.write('tokenize\n');
    return next();
  };
  return { run, stop: () => child.stdin.end() };
}

async function main(): Promise<void> {
  await selectBackend('wasm');
  const model = QLIPModel.create(benchConfig(), 0);
  const root = await mkdtemp(join(tmpdir(), 'qlip-bench-ortvar-'));
  try {
    const rng = new Rng(0);
    const pixels = Float32Array.from({ length: BATCH * 3 * 64 * 64 }, () => rng.next() * 2 - 1);
    const runners: Record<string, OnnxQLIP> = {};
    const ops: Record<string, Record<string, number>> = {};
    for (const [name, v] of Object.entries(VARIANTS)) {
      const dir = join(root, name);
      await exportOnnx(model, dir, { graphs: ['image_encoder'], ...v });
      ops[name] = await optimisedOps(join(dir, 'image_encoder.onnx'), join(root, `${name}.opt.onnx`));
      runners[name] = await OnnxQLIP.load(dir, { threads: 1 });
      for (let i = 0; i < 2; i++) await runners[name]!.encodeToIndices(pixels);
    }
    const ref = (await runners.fp32!.encodeToIndices(pixels)).indices;
    const agreement = Object.fromEntries(
      await Promise.all(
        Object.entries(runners).map(async ([name, rt]) => {
          const a = new AgreementCounter(model.bits);
          a.add(ref, (await rt.encodeToIndices(pixels)).indices, BATCH);
          return [name, a.result()] as const;
        }),
      ),
    );
    const ms: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
    // CPU time of the process per batch: at one thread, the work itself, whatever the neighbours took.
    const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
    const peer = await startPeer();
    if (peer) {
      ms.pytorch = [];
      cpu.pytorch = [];
      for (let i = 0; i < 2; i++) await peer.run(); // warm-up
    }
    for (let r = 0; r < ROUNDS; r++) {
      if (peer) {
        const p = await peer.run();
        ms.pytorch!.push(p.ms);
        cpu.pytorch!.push(p.cpu_ms);
      }
      for (const [name, rt] of Object.entries(runners)) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await rt.encodeToIndices(pixels);
        ms[name]!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu[name]!.push((c.user + c.system) / 1000);
      }
    }
    for (const rt of Object.values(runners)) await rt.release();
    peer?.stop();
    const rate = (f: (v: number[]) => number) =>
      Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, r1(BATCH / (f(v) / 1000))]));
    console.log(
      JSON.stringify({
        bench: 'onnx-variants',
        model: 'bench-s image encoder (random weights, random pixels)',
        batch: BATCH,
        threads: 1,
        rounds: ROUNDS,
        cpu: cpus()[0]?.model ?? 'unknown',
        load_average_1m: r1(loadavg()[0]!),
        images_per_s: rate(median),
        best_images_per_s: rate((v) => Math.min(...v)),
        images_per_cpu_s: Object.fromEntries(
          Object.entries(cpu).map(([k, v]) => [k, r1(BATCH / (median(v) / 1000))]),
        ),
        // Speed over the peer's, per round (same moment, same load), median; int8 is LOWER PRECISION.
        ...(peer
          ? {
              speed_vs_pytorch_per_round_median: Object.fromEntries(
                Object.keys(VARIANTS).map((k) => [
                  k,
                  Math.round(median(ms.pytorch!.map((p, i) => p / ms[k]![i]!)) * 100) / 100,
                ]),
              ),
              cpu_speed_vs_pytorch: Object.fromEntries(
                Object.keys(VARIANTS).map((k) => [
                  k,
                  Math.round((median(cpu.pytorch!) / median(cpu[k]!)) * 100) / 100,
                ]),
              ),
            }
          : {}),
        ratio_to_fp32_per_round_median: Object.fromEntries(
          Object.keys(VARIANTS).map((k) => [
            k,
            Math.round(median(ms.fp32!.map((f, i) => f / ms[k]![i]!)) * 100) / 100,
          ]),
        ),
        agreement_with_fp32: agreement,
        optimised_graph_ops: ops,
      }),
    );
  } finally {
    model.dispose();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
