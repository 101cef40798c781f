import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Rng } from '@qlip/core';
import type { QLIPModel } from '@qlip/model';
import type { IndexAgreement } from '@qlip/tokenize';
import * as tf from '@tensorflow/tfjs-core';
import { AgreementCounter } from '../runtime/agreement.js';
import { OnnxQLIP } from '../runtime/onnx-qlip.js';
import type { OnnxManifest } from './export.js';

const run = promisify(execFile);

/** Float tolerance of the verification (absolute, per element). */
export const VERIFY_TOLERANCE = 1e-4;

export interface OnnxVerification {
  passed: boolean;
  batch: number;
  tolerance: number;
  /** Tokens whose ONNX index differs from the tfjs index (must be 0). */
  indexMismatches?: number;
  groupIndexMismatches?: number;
  /** Max |ONNX - tfjs| per float output. */
  maxAbsDiff: { imageEmbeds?: number; decodedPixels?: number; textEmbeds?: number };
  /** A lower-precision export: checked by its agreement with the fp32 tfjs model instead of identity. */
  precision?: string;
  agreementWithFp32?: IndexAgreement;
  problems: string[];
}

/**
 * Bits of a lower-precision export that must agree with the fp32 model on the verification images: a broken
 * graph agrees on about half; the int8 graphs measured 99.4 % on random bench-s weights, 99.8 % on MNIST.
 */
export const LOWER_PRECISION_MIN_BITS = 90;

/** Max |ONNX - tfjs| of the float outputs of a lower-precision export's graphs (each graph run once). */
async function floatDistances(
  model: QLIPModel,
  onnx: OnnxQLIP,
  x: tf.Tensor4D,
  seed: number,
): Promise<OnnxVerification['maxAbsDiff']> {
  const m = onnx.manifest;
  const d: OnnxVerification['maxAbsDiff'] = {};
  const e = model.imageEmbeddings(x, { normalize: true });
  d.imageEmbeds = maxAbs((await onnx.imageEmbeddings(x.dataSync() as Float32Array)).data, e.dataSync());
  e.dispose();
  if (m.graphs.decoder && m.indexInput === m.io.indices) {
    const idx = (await model.encodeToIndices(x)).indices;
    const r = model.decodeIndices(idx);
    d.decodedPixels = maxAbs((await onnx.decodeIndices(idx)).data, r.dataSync());
    r.dispose();
  }
  if (m.graphs.text_encoder) {
    const ids = verificationIds(m, x.shape[0], seed + 1);
    const t = model.textEmbeddings(ids, { normalize: true });
    d.textEmbeds = maxAbs((await onnx.textEmbeddings(ids)).data, t.dataSync());
    t.dispose();
  }
  return d;
}

/**
 * Verify a lower-precision (int8) export: its indices against the fp32 tfjs model's on `batch` seeded images
 * (agreement, at least `LOWER_PRECISION_MIN_BITS` % of bits), and every graph runs with finite outputs (their
 * distance to fp32 is reported, not bounded).
 */
export async function verifyLowerPrecision(
  model: QLIPModel,
  dir: string,
  opts: { batch?: number; seed?: number } = {},
): Promise<OnnxVerification> {
  const batch = opts.batch ?? 16;
  const onnx = await OnnxQLIP.load(dir);
  const m = onnx.manifest;
  const out: OnnxVerification = {
    passed: false,
    batch,
    tolerance: Number.POSITIVE_INFINITY,
    maxAbsDiff: {},
    problems: [],
  };
  out.precision = m.precision;
  const pixels = verificationPixels(m, batch, opts.seed ?? 1234);
  const x = tf.tensor4d(pixels, [batch, m.channels, m.imageSize, m.imageSize]);
  try {
    const ref = await model.encodeToGroupIndices(x);
    const got = await onnx.encodeToGroupIndices(pixels);
    const counter = new AgreementCounter(m.bits);
    counter.add(ref.indices, got.indices, batch, got.groups);
    out.agreementWithFp32 = counter.result();
    if (out.agreementWithFp32.bitsAgreeing < LOWER_PRECISION_MIN_BITS)
      out.problems.push(
        `only ${out.agreementWithFp32.bitsAgreeing} % of token bits agree with the fp32 model (at least ${LOWER_PRECISION_MIN_BITS} % expected)`,
      );
    out.maxAbsDiff = await floatDistances(model, onnx, x, opts.seed ?? 1234);
  } finally {
    x.dispose();
    await onnx.release();
  }
  for (const [k, v] of Object.entries(out.maxAbsDiff))
    if (!Number.isFinite(v)) out.problems.push(`${k}: the ${m.precision} graph gives non-finite values`);
  out.passed = out.problems.length === 0;
  return out;
}

/** Fixed test pixels: seeded standard normal, `[B, C, S, S]`. */
export function verificationPixels(
  m: Pick<OnnxManifest, 'channels' | 'imageSize'>,
  batch: number,
  seed: number,
): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: batch * m.channels * m.imageSize ** 2 }, () => rng.normal());
}

/**
 * Fixed test prompts `[B, ctx]`: random ids below the eos id, an eos at a random position, then zero padding;
 * the last prompt has no eos at all (pooling must fall back to position 0 as in the reference).
 */
export function verificationIds(
  m: Pick<OnnxManifest, 'contextLength' | 'vocabSize' | 'eosTokenId'>,
  batch: number,
  seed: number,
): Int32Array {
  const rng = new Rng(seed);
  const ctx = m.contextLength;
  const top = Math.min(m.eosTokenId, m.vocabSize);
  const ids = new Int32Array(batch * ctx);
  for (let b = 0; b < batch; b++) {
    const eosAt = b === batch - 1 && batch > 1 ? ctx : 1 + rng.int(ctx - 1);
    for (let i = 0; i < ctx; i++) {
      ids[b * ctx + i] = i < eosAt ? 1 + rng.int(top - 1) : i === eosAt ? m.eosTokenId : 0;
    }
  }
  return ids;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(m) ? Number.POSITIVE_INFINITY : m;
}

function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/**
 * Run every graph of an export in ONNX Runtime on fixed inputs and compare with the tfjs model: indices and
 * group indices must be identical, image/text embeddings and pixels decoded from the tfjs indices within
 * `tolerance`.
 */
export async function verifyOnnxExport(
  model: QLIPModel,
  dir: string,
  opts: { batch?: number; seed?: number; tolerance?: number; threads?: number } = {},
): Promise<OnnxVerification> {
  const batch = opts.batch ?? 2;
  const seed = opts.seed ?? 1234;
  const tol = opts.tolerance ?? VERIFY_TOLERANCE;
  const onnx = await OnnxQLIP.load(dir, { threads: opts.threads });
  const m = onnx.manifest;
  const out: OnnxVerification = { passed: false, batch, tolerance: tol, maxAbsDiff: {}, problems: [] };
  try {
    const pixels = verificationPixels(m, batch, seed);
    const x = tf.tensor4d(pixels, [batch, m.channels, m.imageSize, m.imageSize]);
    try {
      if (m.graphs.image_encoder) {
        if (m.indexInput === m.io.indices) {
          const ref = await model.encodeToIndices(x);
          out.indexMismatches = mismatches((await onnx.encodeToIndices(pixels)).indices, ref.indices);
        }
        const refG = await model.encodeToGroupIndices(x);
        out.groupIndexMismatches = mismatches(
          (await onnx.encodeToGroupIndices(pixels)).indices,
          refG.indices,
        );
        const e = model.imageEmbeddings(x, { normalize: true });
        out.maxAbsDiff.imageEmbeds = maxAbs((await onnx.imageEmbeddings(pixels)).data, e.dataSync());
        e.dispose();
      }
      if (m.graphs.decoder) {
        const idx =
          m.indexInput === m.io.indices
            ? (await model.encodeToIndices(x)).indices
            : (await model.encodeToGroupIndices(x)).indices;
        const ref = m.indexInput === m.io.indices ? model.decodeIndices(idx) : undefined;
        if (ref) {
          out.maxAbsDiff.decodedPixels = maxAbs((await onnx.decodeIndices(idx)).data, ref.dataSync());
          ref.dispose();
        } else {
          const r = model.reconstruct(x);
          out.maxAbsDiff.decodedPixels = maxAbs((await onnx.decodeIndices(idx)).data, r.dataSync());
          r.dispose();
        }
      }
    } finally {
      x.dispose();
    }
    if (m.graphs.text_encoder) {
      const ids = verificationIds(m, batch, seed + 1);
      const e = model.textEmbeddings(ids, { normalize: true });
      out.maxAbsDiff.textEmbeds = maxAbs((await onnx.textEmbeddings(ids)).data, e.dataSync());
      e.dispose();
    }
  } finally {
    await onnx.release();
  }
  if (out.indexMismatches)
    out.problems.push(`${out.indexMismatches} token indices differ from the tfjs runtime`);
  if (out.groupIndexMismatches)
    out.problems.push(`${out.groupIndexMismatches} group indices differ from the tfjs runtime`);
  for (const [k, v] of Object.entries(out.maxAbsDiff)) {
    if (!(v <= tol)) out.problems.push(`${k}: max |onnx - tfjs| = ${v} exceeds ${tol}`);
  }
  out.passed = out.problems.length === 0;
  return out;
}

/** Result of the ONNX project's own checker (python3-onnx), when it is installed. */
export interface OnnxCheckerResult {
  /** "passed", "failed", or "skipped" (no python3 with the onnx module). */
  status: 'passed' | 'failed' | 'skipped';
  python?: string;
  detail: string;
}

// pyenv shims often hide Debian's dist-packages, so /usr/bin/python3 (where python3-onnx lives) is tried too.
const PYTHONS = ['python3', '/usr/bin/python3'];

/** The first python3 that can import onnx, or undefined. */
export async function findOnnxPython(): Promise<{ python: string; version: string } | undefined> {
  for (const python of PYTHONS) {
    try {
      const { stdout } = await run(python, ['-c', 'import onnx; print(onnx.__version__)'], {
        timeout: 60_000,
      });
      return { python, version: stdout.trim() };
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** `onnx.checker.check_model(path, full_check=True)` on each model file (external data resolved beside it). */
export async function checkOnnxModels(dir: string, files: string[]): Promise<OnnxCheckerResult> {
  const py = await findOnnxPython();
  if (!py)
    return { status: 'skipped', detail: 'no python3 with the onnx module (apt-get install python3-onnx)' };
  const script =
    'import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(p, full_check=True)\nprint("ok")';
  try {
    await run(py.python, ['-c', script, ...files.map((f) => join(dir, f))], {
      timeout: 300_000,
      maxBuffer: 1 << 24,
    });
    return {
      status: 'passed',
      python: py.python,
      detail: `onnx ${py.version} check_model(full_check=True) passed on ${files.join(', ')}`,
    };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return {
      status: 'failed',
      python: py.python,
      detail: (e.stderr || e.message).trim().split('\n').slice(-5).join('\n'),
    };
  }
}
