import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exportOnnx,
  OnnxQLIP,
  onnxRuntime,
  resolveOnnxDir,
  verificationIds,
  verificationPixels,
} from '../src/index.js';
import { maxAbsDiff, tinyConfig } from './helpers.js';

let dir: string;
let model: QLIPModel;

beforeAll(async () => {
  await selectBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'qlip-ort-'));
  model = QLIPModel.create(tinyConfig({ image: 32, patch: 8, bits: 10 }), 21);
  await exportOnnx(model, dir);
});
afterAll(async () => {
  model.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('OnnxQLIP (--runtime onnx)', () => {
  it('gives the tfjs runtime indices at 1 and 2 threads, from host arrays and tensors', async () => {
    const pixels = verificationPixels({ channels: 3, imageSize: 32 }, 5, 99);
    const x = tf.tensor4d(pixels, [5, 3, 32, 32]);
    const ref = await model.encodeToIndices(x);
    for (const threads of [1, 2]) {
      const rt = await OnnxQLIP.load(dir, { threads });
      expect(rt.threads).toBe(threads);
      const a = await rt.encodeToIndices(pixels);
      expect(a.batch).toBe(5);
      expect(a.grid).toEqual([4, 4]);
      expect(Array.from(a.indices)).toEqual(Array.from(ref.indices));
      expect(Array.from((await rt.encodeToIndices(x)).indices)).toEqual(Array.from(ref.indices));
      await rt.release();
    }
    // Every index is a 10-bit value and the batch uses more than one code (the comparison is not vacuous).
    expect(Math.max(...ref.indices)).toBeLessThan(1024);
    expect(new Set(ref.indices).size).toBeGreaterThan(1);
    x.dispose();
  });

  it('decodes indices and embeds text like the tfjs model', async () => {
    const rt = await OnnxQLIP.load(dir, { threads: 1 });
    const indices = Uint32Array.from({ length: 2 * 16 }, (_, i) => (i * 97) % 1024);
    const ref = model.decodeIndices(indices);
    const out = await rt.decodeIndices(indices);
    expect(out.shape).toEqual([2, 3, 32, 32]);
    expect(maxAbsDiff(out.data, ref.dataSync())).toBeLessThan(1e-4);
    ref.dispose();
    const ids = verificationIds({ contextLength: 8, vocabSize: 60, eosTokenId: 59 }, 3, 5);
    const e = model.textEmbeddings(ids, { normalize: true });
    expect(maxAbsDiff((await rt.textEmbeddings(ids)).data, e.dataSync())).toBeLessThan(1e-4);
    e.dispose();
    await rt.release();
  });

  it('rejects bad inputs with what was expected', async () => {
    const rt = await OnnxQLIP.load(dir, { threads: 1 });
    await expect(rt.encodeToIndices(new Float32Array(100))).rejects.toThrow(
      /100 pixel values are not a whole number of \[3, 32, 32\] images/,
    );
    await expect(rt.encodeToIndices(tf.zeros([1, 3, 16, 16]) as tf.Tensor4D)).rejects.toThrow(
      /pixels must be \[B, 3, 32, 32\]/,
    );
    await expect(rt.decodeIndices([1024, ...new Array(15).fill(0)])).rejects.toThrow(
      /index 1024 at position 0 is outside \[0, 2\^10\)/,
    );
    await expect(rt.decodeIndices([1, 2, 3])).rejects.toThrow(/expected a multiple of 16 per image/);
    await expect(rt.textEmbeddings(new Int32Array(8).fill(60))).rejects.toThrow(
      /token id 60 at \[0, 0\] is outside \[0, vocab_size=60\)/,
    );
    await rt.release();
  });

  it('fails to open a folder without an export, naming the file', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'qlip-ort-empty-'));
    await expect(OnnxQLIP.load(empty)).rejects.toThrow(
      new RegExp(`${join(empty, 'qlip-onnx.json')}: cannot read`),
    );
    await writeFile(join(empty, 'qlip-onnx.json'), '{"format":"other"}');
    await expect(OnnxQLIP.load(empty)).rejects.toThrow(/not a qlip ONNX manifest/);
    await expect(OnnxQLIP.load(dir, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    await rm(empty, { recursive: true });
  });
});

describe('onnxRuntime (the tokenizer runtime behind --runtime onnx)', () => {
  it('finds <model>/onnx, encodes and decodes like the model, and refuses --features', async () => {
    const modelDir = await mkdtemp(join(tmpdir(), 'qlip-ort-model-'));
    await exportOnnx(model, join(modelDir, 'onnx'), { graphs: ['image_encoder', 'decoder'] });
    expect(resolveOnnxDir(modelDir)).toBe(join(modelDir, 'onnx'));
    const rt = await onnxRuntime(modelDir, { threads: 1 });
    expect(rt).toMatchObject({
      name: 'onnx',
      imageSize: 32,
      patchSize: 8,
      bits: 10,
      grid: [4, 4],
      featureDim: 8,
    });
    const pixels = verificationPixels({ channels: 3, imageSize: 32 }, 2, 3);
    const x = tf.tensor4d(pixels, [2, 3, 32, 32]);
    const ref = await model.encodeToIndices(x);
    const { indices } = await rt.encode(pixels, 2, { features: false });
    expect(Array.from(indices)).toEqual(Array.from(ref.indices));
    const dec = model.decodeIndices(indices);
    expect(maxAbsDiff(await rt.decode(indices, 2), dec.dataSync())).toBeLessThan(1e-4);
    await expect(rt.encode(pixels, 2, { features: true })).rejects.toThrow(/--runtime tfjs/);
    await expect(rt.onnx.textEmbeddings(new Int32Array(8))).rejects.toThrow(/has no text_encoder graph/);
    rt.dispose();
    x.dispose();
    dec.dispose();
    expect(() => resolveOnnxDir(join(modelDir, 'onnx', 'nothing'))).toThrow(
      /no ONNX export found.*qlip export onnx --model/,
    );
    await rm(modelDir, { recursive: true });
  });
});
