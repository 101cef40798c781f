import { spawn } from 'node:child_process';
import os from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQLIPConfig, qlipSpecs } from '@qlip/model';
import { type WorkloadFlops, workloadFlops } from './flops.js';
import { type OnnxEntry, onnxTokenize } from './onnx.js';
import { type PeerEntry, runTorchPeer } from './peer.js';
import { BENCH_S, BENCH_S_EXPECTED_PARAMS, type BenchShape, benchConfig, paramGroup } from './preset.js';
import { measureVariant, type VariantResult } from './variant-run.js';
import { settingsFor, VARIANTS, type VariantId, variantsFor } from './variants.js';

export interface BenchOptions {
  /** `auto` (every variant), `wasm` (native 1 thread, native default threads, stock), `cpu`, `tensorflow`. */
  backend?: string;
  /** Explicit variant list (overrides `backend`). */
  variants?: VariantId[];
  /** Timed repetitions of every workload (overrides the per-variant defaults). */
  reps?: number;
  /** Tiny model and 2 repetitions: a smoke run of the whole pipeline, not a measurement. */
  quick?: boolean;
  /**
   * Run each variant in a child process (default; needed for per-variant peak RSS and for switching
   * QLIP_NATIVE). `false` runs them in this process, one after another, with the backend @qlip/core
   * selects for the current environment (tests that import the sources).
   */
  isolate?: boolean;
  /** Also run the ONNX Runtime tokenize benchmark of @qlip/export when it exists (default true). */
  onnx?: boolean;
  /** Run the PyTorch peer (torch_peer.py) in this run (default true; ratios need it). */
  peer?: boolean;
  /**
   * Also run the peer on as many threads as our all-cores variant uses, so that variant is compared with
   * PyTorch on equal threads (default true on a machine with more than one core).
   */
  peerAllCores?: boolean;
  onProgress?: (message: string) => void;
}

/** Speed relative to the PyTorch peer (same machine, same run, same thread count); > 1 means faster than PyTorch. */
export interface PyTorchRatios {
  tokenizeSpeed: number;
  reconstructSpeed: number;
  textSpeed: number;
  /** Our train step time / PyTorch's at the same batch, both measured in this run (lower is better). */
  trainStepTimeRatio: number | null;
  /** Our process's peak RSS / the peer's (both MiB, whole process, lower is better); null without the peer's. */
  peakRssRatio: number | null;
  note?: string;
}

/** The headline figures of one run, every ratio against the peer measured in it. */
export interface BenchSummary {
  /** The variant quoted (wasm + native 1 thread when it ran). */
  variant: VariantId | null;
  vsPyTorch: PyTorchRatios | null;
  /** ONNX Runtime tokenize at 1 intra-op thread / the peer's tokenize, both from this run. */
  onnxTokenizeSpeed: number | null;
  /**
   * LOWER PRECISION, not comparable in kind: ONNX Runtime tokenize of the int8 graphs (`--precision int8`) at
   * 1 thread / the peer's fp32 tokenize. Their indices differ from fp32's on some tokens
   * (`onnxInt8AgreementWithFp32`).
   */
  onnxInt8TokenizeSpeed: number | null;
  /** The int8 graphs' indices against fp32's on the bench batch (random weights and pixels). */
  onnxInt8AgreementWithFp32: unknown;
  /** Peak resident set of the quoted variant's process and of the peer's (MiB). */
  peakRssMiB: { ours: number | null; pytorch: number | null };
  /**
   * The same comparison with every core on both sides: our all-cores variant against the peer run on as many
   * threads, and ONNX Runtime at that many intra-op threads. Null when only one thread was measured.
   */
  allCores: {
    threads: number;
    variant: VariantId;
    vsPyTorch: PyTorchRatios | null;
    onnxTokenizeSpeed: number | null;
    /** Lower precision (int8), as `onnxInt8TokenizeSpeed`. */
    onnxInt8TokenizeSpeed: number | null;
  } | null;
}

export interface BenchResult {
  benchmark: 'bench-s';
  quick: boolean;
  date: string;
  machine: {
    cpu: string;
    cores: number;
    memoryGB: number;
    platform: string;
    node: string;
    loadAverage: number[];
  };
  model: {
    config: 'official QLIP layout closest to bench-s (see bottleneck)';
    shape: BenchShape;
    params: { ours: Record<string, number>; benchS: typeof BENCH_S_EXPECTED_PARAMS; difference: string };
    bottleneck: string;
  };
  flops: { convention: string; benchS: WorkloadFlops; executed: WorkloadFlops };
  /** The PyTorch peer on 1 thread, run on this machine in this run; without it no ratio is reported. */
  pytorch: PeerEntry;
  /** The peer on as many threads as our all-cores variant (`wasm-native`), when that ran and cores > 1. */
  pytorchAllCores: PeerEntry | null;
  backends: (VariantResult & { vsPyTorch?: PyTorchRatios })[];
  onnx: OnnxEntry;
  /** The equal-thread-count headline: the wasm + native 1-thread variant's ratios, when it ran. */
  summary: BenchSummary;
  elapsedSec: number;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Ratios of one variant's figures to the PyTorch peer's. */
export function pytorchRatios(r: VariantResult, peer: PeerEntry): PyTorchRatios | undefined {
  if (!r.available || !peer.measured) return undefined;
  const m = r.measurement;
  const { batch: _batch, ...rest } = r.settings.shape;
  const { batch: _b, ...benchS } = BENCH_S;
  if (JSON.stringify(rest) !== JSON.stringify(benchS)) return undefined; // not the bench-s model
  const fullBatch = m.train.batch === peer.trainBatch;
  const out: PyTorchRatios = {
    tokenizeSpeed: round(m.tokenize.perSec / peer.tokenizeImagesPerSec),
    reconstructSpeed: round(m.reconstruct.perSec / peer.reconstructImagesPerSec),
    textSpeed: round(m.text.perSec / peer.textPromptsPerSec),
    trainStepTimeRatio: fullBatch ? round(m.train.stepMs / peer.trainStepMs) : null,
    peakRssRatio: peer.peakRssMiB ? round(r.peakRssMB / peer.peakRssMiB) : null,
  };
  if (!fullBatch) out.note = `train batch ${m.train.batch} vs the peer's ${peer.trainBatch}: not comparable`;
  if (r.matmulThreads !== peer.threads) {
    out.note = `${out.note ? `${out.note}; ` : ''}matmuls on ${r.matmulThreads ?? 'TensorFlow\u2019s'} threads vs PyTorch's ${peer.threads}`;
  }
  return out;
}

/**
 * ONNX Runtime's tokenize rate at the peer's thread count / the peer's, when both ran in this run; `int8`: the
 * lower-precision graphs' rate (the script's `int8` section).
 */
export function onnxVsPeer(
  onnx: OnnxEntry,
  peer: PeerEntry,
  precision: 'fp32' | 'int8' = 'fp32',
): number | null {
  if (!onnx.available || !peer.measured) return null;
  type Rates = Record<string, { images_per_s?: unknown } | undefined>;
  const all = onnx.result as (Rates & { int8?: Rates }) | null;
  const entry = (precision === 'int8' ? all?.int8 : all)?.[`threads_${peer.threads}`];
  const rate = entry?.images_per_s;
  return typeof rate === 'number' && rate > 0 ? round(rate / peer.tokenizeImagesPerSec) : null;
}

/** The peer with the variant's thread count (the 1-thread one when no other was measured). */
function peerFor(r: VariantResult, one: PeerEntry, all: PeerEntry | null): PeerEntry {
  return all?.measured && r.available && r.matmulThreads === all.threads ? all : one;
}

/** Runs one variant in a child process (this module's worker next to it) and parses its JSON. */
function runChild(
  id: VariantId,
  payload: unknown,
  env: Record<string, string>,
  onProgress: (m: string) => void,
): Promise<VariantResult> {
  const here = fileURLToPath(import.meta.url);
  const worker = here.replace(/run(\.[cm]?[jt]s)$/, `worker${extname(here)}`);
  return new Promise((resolve, reject) => {
    // A TypeScript worker (sources run through a loader such as tsx) needs this process's loader flags;
    // the built one must not inherit them (a test runner's hooks, for instance).
    const flags = extname(worker) === '.ts' ? process.execArgv : [];
    const child = spawn(process.execPath, [...flags, worker, JSON.stringify(payload)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      err += text;
      for (const line of text.split('\n')) if (line.trim()) onProgress(line);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code === 0 && line) {
        try {
          resolve(JSON.parse(line) as VariantResult);
          return;
        } catch {
          // fall through to the error below
        }
      }
      reject(
        new Error(
          `bench: variant ${id} (${worker}) exited with code ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`,
        ),
      );
    });
  });
}

/**
 * The bench-s benchmark: every requested backend variant, the analytic FLOPs, the parameter check and the
 * ratios to the PyTorch peer, as one JSON-ready object.
 */
export async function runBench(opts: BenchOptions = {}): Promise<BenchResult> {
  const t0 = performance.now();
  const say = opts.onProgress ?? (() => {});
  const ids = opts.variants ?? variantsFor(opts.backend ?? 'auto');
  const loadBefore = os.loadavg();
  const results = await runVariants(ids, opts, say);
  const { pytorch, pytorchAllCores } = await runPeers(results, opts, say);
  const backends: BenchResult['backends'] = results.map((r) => ({
    ...r,
    vsPyTorch: pytorchRatios(r, peerFor(r, pytorch, pytorchAllCores)),
  }));
  const shape = opts.quick ? settingsFor('wasm', { quick: true }).settings.shape : BENCH_S;
  const headline =
    backends.find((b) => b.id === 'wasm-native-1t' && b.available) ?? backends.find((b) => b.available);
  const onnx: OnnxEntry =
    opts.onnx === false || opts.quick
      ? { available: false, reason: opts.quick ? 'skipped in a quick run' : 'skipped (onnx: false)' }
      : await onnxTokenize(say);
  return {
    benchmark: 'bench-s',
    quick: opts.quick === true,
    date: new Date().toISOString(),
    machine: machineInfo(loadBefore),
    model: modelSection(shape),
    flops: {
      convention:
        'matmuls only, 2*M*N*K, attention QK^T and AV included, backward = 2x forward except the patch-embed input ' +
        'gradient; the BSQ entropy logits ([B*N*2, 9] x [9, 512]) and the B x B contrastive logits are included (parts)',
      benchS: workloadFlops(shape, 'bench-s'),
      executed: workloadFlops(shape, 'official-mlp'),
    },
    pytorch,
    pytorchAllCores,
    backends,
    onnx,
    summary: {
      variant: headline?.id ?? null,
      vsPyTorch: headline?.vsPyTorch ?? null,
      onnxTokenizeSpeed: onnxVsPeer(onnx, pytorch),
      onnxInt8TokenizeSpeed: onnxVsPeer(onnx, pytorch, 'int8'),
      onnxInt8AgreementWithFp32: onnx.available
        ? ((onnx.result as { int8?: { agreement_with_fp32?: unknown } } | null)?.int8?.agreement_with_fp32 ??
          null)
        : null,
      peakRssMiB: {
        ours: headline?.available ? headline.peakRssMB : null,
        pytorch: pytorch.measured ? pytorch.peakRssMiB : null,
      },
      allCores: allCoresSummary(backends, pytorchAllCores, onnx),
    },
    elapsedSec: round((performance.now() - t0) / 1000, 1),
  };
}

/**
 * The peer on 1 thread, then on the all-cores variant's thread count, in this run after our variants (one heavy
 * process at a time). A quick run is not bench-s, so it runs no peer.
 */
async function runPeers(
  results: VariantResult[],
  opts: BenchOptions,
  say: (line: string) => void,
): Promise<{ pytorch: PeerEntry; pytorchAllCores: PeerEntry | null }> {
  if (opts.quick)
    return {
      pytorch: { measured: false, reason: 'quick run (tiny model, not bench-s)' },
      pytorchAllCores: null,
    };
  if (opts.peer === false)
    return { pytorch: { measured: false, reason: 'skipped (peer: false)' }, pytorchAllCores: null };
  const pytorch = await runTorchPeer(say);
  const all = results.find((r) => r.id === 'wasm-native' && r.available);
  const threads = all?.available ? all.matmulThreads : null;
  if (!pytorch.measured || opts.peerAllCores === false || threads == null || threads < 2) {
    return { pytorch, pytorchAllCores: null };
  }
  return { pytorch, pytorchAllCores: await runTorchPeer(say, { threads }) };
}

/** The all-cores comparison: `wasm-native` against the peer on as many threads, ONNX Runtime likewise. */
function allCoresSummary(
  backends: BenchResult['backends'],
  peer: PeerEntry | null,
  onnx: OnnxEntry,
): BenchSummary['allCores'] {
  const v = backends.find((b) => b.id === 'wasm-native' && b.available);
  if (!v?.available || !peer?.measured) return null;
  return {
    threads: peer.threads,
    variant: v.id,
    vsPyTorch: v.vsPyTorch ?? null,
    onnxTokenizeSpeed: onnxVsPeer(onnx, peer),
    onnxInt8TokenizeSpeed: onnxVsPeer(onnx, peer, 'int8'),
  };
}

/** Every requested variant, one at a time (a quick smoke run, with nothing worth keeping, uses every core). */
async function runVariants(
  ids: VariantId[],
  opts: BenchOptions,
  say: (line: string) => void,
): Promise<VariantResult[]> {
  const one = async (id: VariantId): Promise<VariantResult> => {
    const { settings, deviations } = settingsFor(id, { quick: opts.quick, reps: opts.reps });
    say(`== ${id}`);
    let r: VariantResult;
    try {
      r =
        opts.isolate === false
          ? await measureVariant(id, settings, deviations, say)
          : await runChild(id, { id, settings, deviations }, VARIANTS[id].env, say);
    } catch (err) {
      r = { id, label: VARIANTS[id].label, available: false, reason: (err as Error).message };
    }
    if (!r.available) say(`${id}: not available: ${r.reason}`);
    return r;
  };
  // Measurements run one at a time; a quick smoke run (no figures worth keeping) uses every core.
  const lanes = opts.quick && opts.isolate !== false ? Math.max(1, os.cpus().length) : 1;
  const results: VariantResult[] = new Array(ids.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, ids.length) }, async () => {
      while (next < ids.length) {
        const i = next++;
        results[i] = await one(ids[i]!);
      }
    }),
  );
  return results;
}

/** The machine the run measured on, with the load average before and after. */
function machineInfo(loadBefore: number[]): BenchResult['machine'] {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    loadAverage: [...loadBefore, ...os.loadavg()].map((x) => round(x, 2)),
  };
}

/** The measured model: its shape and parameter counts beside bench-s's, and the one structural difference. */
function modelSection(shape: BenchShape): BenchResult['model'] {
  const params = countParams(shape);
  return {
    config: 'official QLIP layout closest to bench-s (see bottleneck)',
    shape,
    params: {
      ours: params,
      benchS: BENCH_S_EXPECTED_PARAMS,
      difference: paramDifference(params, shape),
    },
    bottleneck:
      'official quantizer_embed_type "mlp": quant_embed = Linear(256->256), GELU, Linear(256->18) and quant_embed_post = ' +
      'Linear(18->256), GELU, Linear(256->256), vs bench-s single Linear(256->18) / Linear(18->256). The executed ' +
      'FLOPs include the two extra layers (flops.executed); GFLOP/s figures use the bench-s count (flops.benchS), so they ' +
      'slightly understate the work done',
  };
}

/** Where our parameter count departs from bench-s's (only meaningful for the bench-s shape). */
function paramDifference(ours: Record<string, number>, shape: BenchShape): string {
  if (shape !== BENCH_S) return 'not the bench-s shape: no comparison';
  const diffs = Object.entries(BENCH_S_EXPECTED_PARAMS)
    .filter(([k, v]) => ours[k] !== v)
    .map(([k, v]) => `${k} ${ours[k]! - v > 0 ? '+' : ''}${ours[k]! - v}`);
  return diffs.length === 0
    ? 'none'
    : `${diffs.join(', ')}: the official MLP quant_embed / quant_embed_post each add one Linear(256->256) (65,792 parameters); every other group is equal`;
}

/** Parameter counts of the benchmark model by bench-s group (built on the host, no backend work). */
export function countParams(shape: BenchShape): Record<string, number> {
  const counts: Record<string, number> = {};
  let total = 0;
  for (const s of qlipSpecs(parseQLIPConfig(benchConfig(shape)))) {
    const n = s.shape.reduce((a, c) => a * c, 1);
    const g = paramGroup(s.name);
    counts[g] = (counts[g] ?? 0) + n;
    total += n;
  }
  return { ...counts, total };
}
