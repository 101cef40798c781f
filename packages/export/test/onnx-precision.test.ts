import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx, OnnxQLIP, onnxRuntime, prepareOnnx, verificationPixels } from '../src/index.js';
import { quantizeColumns } from '../src/onnx/layers.js';
import { onnx } from '../src/onnx/proto.js';
import { verifyLowerPrecision } from '../src/onnx/verify.js';
import { AgreementCounter } from '../src/runtime/agreement.js';
import { tinyConfig } from './helpers.js';

let tmp: string;
let modelDir: string;
let model: QLIPModel;
// Plain ViT blocks (no rope, no sub-LN): the blocks MultiHeadAttention replaces.
const config = () => tinyConfig({ image: 32, patch: 8, bits: 12, hidden: 32, eva: false });

beforeAll(async () => {
  await selectBackend('wasm');
  tmp = await mkdtemp(join(tmpdir(), 'qlip-onnx-precision-'));
  modelDir = join(tmp, 'model');
  model = QLIPModel.create(config(), 7);
  await model.save(modelDir);
});
afterAll(async () => {
  model.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** `domain.opType` -> count over the graph's nodes, and its opset imports. */
async function graphOps(file: string): Promise<{ ops: Record<string, number>; domains: string[] }> {
  const m = onnx.ModelProto.decode(await readFile(file));
  const ops: Record<string, number> = {};
  for (const n of m.graph?.node ?? []) {
    const k = n.domain ? `${n.domain}.${n.opType}` : String(n.opType);
    ops[k] = (ops[k] ?? 0) + 1;
  }
  return { ops, domains: (m.opsetImport ?? []).map((o) => o.domain ?? '') };
}

async function indices(dir: string, pixels: Float32Array): Promise<Uint32Array> {
  const rt = await OnnxQLIP.load(dir, { threads: 1 });
  try {
    return (await rt.encodeToIndices(pixels)).indices;
  } finally {
    await rt.release();
  }
}

describe('int8 weights (quantizeColumns)', () => {
  it('scales each output column by its max |w| / 127 and rounds to nearest', () => {
    // [in 2, out 4]: columns (1, -0.25), (0, 0), (127, -63.5), (127, 2.5); ties go to even.
    const { q, scale } = quantizeColumns(Float32Array.from([1, 0, 127, 127, -0.25, 0, -63.5, 2.5]), 4);
    expect(Array.from(scale)).toEqual([Math.fround(1 / 127), 1, 1, 1]);
    expect(Array.from(q)).toEqual([127, 0, 127, 127, -32, 0, -64, 2]);
  });
});

describe('ONNX graph variants', () => {
  it('fp32 by default: the standard graph, no contrib ops, no integer matmuls', async () => {
    const dir = join(tmp, 'fp32');
    await exportOnnx(model, dir, { graphs: ['image_encoder'] });
    const { ops, domains } = await graphOps(join(dir, 'image_encoder.onnx'));
    expect(domains).toEqual(['']);
    expect(ops.MatMulInteger).toBeUndefined();
    expect(ops.Softmax).toBe(2);
    expect(JSON.parse(await readFile(join(dir, 'qlip-onnx.json'), 'utf8'))).toMatchObject({
      precision: 'fp32',
      attention: 'standard',
    });
  });

  it('MultiHeadAttention (attention: ort) gives the standard graph indices', async () => {
    const dir = join(tmp, 'mha');
    await exportOnnx(model, dir, { graphs: ['image_encoder'], attention: 'ort' });
    const { ops, domains } = await graphOps(join(dir, 'image_encoder.onnx'));
    expect(domains).toEqual(['', 'com.microsoft']);
    expect(ops['com.microsoft.MultiHeadAttention']).toBe(2);
    expect(ops.Softmax).toBeUndefined();
    const pixels = verificationPixels({ channels: 3, imageSize: 32 }, 8, 5);
    const ref = await indices(join(tmp, 'fp32'), pixels);
    expect(new Set(ref).size).toBeGreaterThan(8);
    expect(Array.from(await indices(dir, pixels))).toEqual(Array.from(ref));
  });

  it('int8: standard quantisation ops in the blocks only, indices close to fp32', async () => {
    const dir = join(tmp, 'int8');
    await exportOnnx(model, dir, { graphs: ['image_encoder'], precision: 'int8' });
    const { ops, domains } = await graphOps(join(dir, 'image_encoder.onnx'));
    expect(domains).toEqual(['']);
    // q, k, v, out, fc1, fc2 of 2 blocks; patch embedding and bottleneck stay fp32 MatMuls.
    expect(ops.MatMulInteger).toBe(12);
    expect(ops.DynamicQuantizeLinear).toBe(12);
    const pixels = verificationPixels({ channels: 3, imageSize: 32 }, 16, 6);
    const a = new AgreementCounter(12);
    a.add(await indices(join(tmp, 'fp32'), pixels), await indices(dir, pixels), 16);
    const r = a.result();
    expect(r).toMatchObject({ images: 16, tokens: 256 });
    // Random weights and Gaussian pixels: a loose floor (the trained MNIST model's bound is in the CLI tests).
    expect(r.bitsAgreeing).toBeGreaterThan(97);
  });

  it('verifies an int8 export by its agreement with the fp32 model, and fails one of other weights', async () => {
    const dir = join(tmp, 'int8-all');
    await exportOnnx(model, dir, { precision: 'int8' });
    const ok = await verifyLowerPrecision(model, dir);
    expect(ok).toMatchObject({ passed: true, precision: 'int8', problems: [] });
    expect(ok.agreementWithFp32!.bitsAgreeing).toBeGreaterThan(97);
    expect(Object.keys(ok.maxAbsDiff).sort()).toEqual(['decodedPixels', 'imageEmbeds', 'textEmbeds']);
    const other = QLIPModel.create(config(), 8);
    try {
      const bad = await verifyLowerPrecision(other, dir);
      expect(bad.passed).toBe(false);
      expect(bad.problems[0]).toMatch(/% of token bits agree with the fp32 model \(at least 90 % expected\)/);
    } finally {
      other.dispose();
    }
  });

  it('refuses an unknown precision or attention form, naming the accepted ones', async () => {
    await expect(exportOnnx(model, join(tmp, 'bad'), { precision: 'bf16' as never })).rejects.toThrow(
      /precision must be one of fp32, int8 \(got "bf16"\)/,
    );
    await expect(exportOnnx(model, join(tmp, 'bad'), { attention: 'flash' as never })).rejects.toThrow(
      /attention must be standard or ort/,
    );
  });
});

describe('prepareOnnx by precision', () => {
  it('keys the cache by precision; int8 compares itself with fp32 on its first images', async () => {
    const cacheDir = join(tmp, 'cache');
    const fp32 = await prepareOnnx(modelDir, { cacheDir });
    const int8 = await prepareOnnx(modelDir, { cacheDir, precision: 'int8' });
    expect(int8.dir).not.toBe(fp32.dir);
    expect(int8.dir).toMatch(/model-int8-[0-9a-f]{16}$/);
    expect(fp32.manifest).toMatchObject({ precision: 'fp32', attention: 'standard' });
    expect(int8.manifest).toMatchObject({ precision: 'int8', attention: 'standard' });
    expect(await prepareOnnx(modelDir, { cacheDir, precision: 'int8' })).toMatchObject({
      dir: int8.dir,
      origin: 'cache',
    });

    const rt = await onnxRuntime(int8.dir, { reference: fp32.dir, agreementImages: 6 });
    const plain = await onnxRuntime(fp32.dir);
    try {
      expect(rt.precision).toBe('int8');
      expect(plain.precision).toBe('fp32');
      expect(plain.agreement).toBeUndefined();
      const pixels = verificationPixels({ channels: 3, imageSize: 32 }, 4, 8);
      for (let i = 0; i < 3; i++) await rt.encode(pixels, 4, { features: false });
      // Whole batches until at least 6 images: 2 batches of 4.
      expect(rt.agreement?.()).toMatchObject({ images: 8, tokens: 128 });
    } finally {
      rt.dispose();
      plain.dispose();
    }
  });

  it("uses the model's own export only at the precision it was made at", async () => {
    const own = join(tmp, 'own');
    await model.save(own);
    await exportOnnx(model, join(own, 'onnx'));
    const cacheDir = join(tmp, 'cache-own');
    expect(await prepareOnnx(own, { cacheDir })).toMatchObject({ origin: 'model' });
    const int8 = await prepareOnnx(own, { cacheDir, precision: 'int8' });
    expect(int8.origin).toBe('exported');
    expect(int8.dir.startsWith(cacheDir)).toBe(true);
  });
});
