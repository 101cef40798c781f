import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clipPreprocessParams, decodeImage, preprocessImage, readNpy, selectBackend } from '@qlip/core';
import { QLIPModel } from '@qlip/model';
import { tinyConfig } from '@qlip/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  modelFingerprint,
  readTokenDataset,
  reconstructDataset,
  reconstructImages,
  tfjsRuntime,
  tokenizeDirectory,
} from '../src/index.js';

let model: QLIPModel;
let modelDir: string;
let imgDir: string;
const NAMES = ['a.png', 'b.jpg', 'sub/c.webp', 'sub/deeper/d.png', 'e.png'];

async function writeImage(path: string, seed: number, w = 24, h = 20): Promise<void> {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + seed * 101) % 251;
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).toFile(path);
}

beforeAll(async () => {
  await selectBackend('wasm');
  model = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 3);
  modelDir = mkdtempSync(join(tmpdir(), 'qlip-model-'));
  await model.save(modelDir);
  imgDir = mkdtempSync(join(tmpdir(), 'qlip-imgs-'));
  mkdirSync(join(imgDir, 'sub/deeper'), { recursive: true });
  for (const [i, n] of NAMES.entries()) await writeImage(join(imgDir, n), i);
  writeFileSync(join(imgDir, 'broken.png'), 'not a png');
  // Sidecar captions (the trainer's folder convention); an empty one counts as none.
  writeFileSync(join(imgDir, 'sub/c.txt'), '\uFEFF  a striped square \n');
  writeFileSync(join(imgDir, 'e.txt'), '  \n');
});

const runtime = () => tfjsRuntime(model);

describe('tokenizeDirectory', () => {
  it('tokenizes every image recursively, skipping and reporting unreadable files', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-tok-'));
    const fp = await modelFingerprint(modelDir);
    const r = await tokenizeDirectory(runtime(), {
      input: imgDir,
      out,
      model: { path: modelDir, fingerprint: fp },
      batchSize: 2,
      shardSize: 4,
    });
    expect(r).toMatchObject({
      found: 6,
      tokenized: 5,
      total: 5,
      alreadyDone: 0,
      interrupted: false,
      bits: 8,
      grid: [4, 4],
    });
    expect(r.failed.map((f) => f.path)).toEqual(['broken.png']);
    expect(r.failed[0]!.reason).toMatch(/broken\.png/);

    // Tokens equal the model's own indices for the same preprocessed pixels.
    const ds = await readTokenDataset(out);
    expect(ds.entries.map((e) => e.path).sort()).toEqual([...NAMES].sort());
    const entry = ds.entries.find((e) => e.path === 'sub/c.webp')!;
    const tokens = (await ds.loadTokens(entry.shard)).subarray(entry.row * 16, entry.row * 16 + 16);
    const px = await preprocessImage(join(imgDir, 'sub/c.webp'), clipPreprocessParams(16));
    const x = tf.tensor4d(px, [1, 3, 16, 16]);
    const own = await model.encodeToIndices(x);
    x.dispose();
    expect(Array.from(tokens)).toEqual(Array.from(own.indices));
    expect(ds.meta.model.fingerprint).toBe(fp);
    expect(entry.caption).toBe('a striped square');
    expect(ds.entries.filter((e) => 'caption' in e).map((e) => e.path)).toEqual(['sub/c.webp']);
    expect(readdirSync(out).filter((f) => f.startsWith('tokens-')).length).toBe(2);
  });

  it('resumes after an interruption without duplicating or losing images', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-tok-'));
    const model_ = { path: modelDir, fingerprint: 'x' };
    const ac = new AbortController();
    ac.abort(); // stop after the first batch
    const first = await tokenizeDirectory(runtime(), {
      input: imgDir,
      out,
      model: model_,
      batchSize: 2,
      shardSize: 100,
      signal: ac.signal,
    });
    expect(first.interrupted).toBe(true);
    expect(first.tokenized).toBe(2);
    const second = await tokenizeDirectory(runtime(), {
      input: imgDir,
      out,
      model: model_,
      batchSize: 2,
      shardSize: 100,
    });
    expect(second.alreadyDone).toBe(2);
    expect(second.tokenized).toBe(3);
    const ds = await readTokenDataset(out);
    expect(ds.entries.length).toBe(5);
    expect(new Set(ds.entries.map((e) => e.path)).size).toBe(5);
  });

  it('stores float16 post-quantisation features [N, h*w, D]', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-tok-'));
    await tokenizeDirectory(runtime(), {
      input: imgDir,
      out,
      model: { path: modelDir, fingerprint: 'x' },
      features: true,
    });
    const f = await readNpy(join(out, 'features-00000.npy'));
    expect(f.dtype).toBe('float16');
    expect(f.shape).toEqual([5, 16, model.config.vision_config.hidden_size_post_q]);
  });
});

describe('reconstruct', () => {
  it('writes one PNG per image, side by side on request', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-rec-'));
    const r = await reconstructImages(runtime(), { input: imgDir, out, sideBySide: true, batchSize: 3 });
    expect(r.written).toBe(5);
    expect(r.failed.length).toBe(1);
    const img = await decodeImage(join(out, 'sub/c.png'));
    expect(img.height).toBe(16);
    expect(img.width).toBeGreaterThan(32); // two 16px panels plus the gap
  });

  it('decodes a tokenized dataset to the same pixels as reconstructing the images', async () => {
    const tok = mkdtempSync(join(tmpdir(), 'qlip-tok-'));
    await tokenizeDirectory(runtime(), {
      input: imgDir,
      out: tok,
      model: { path: modelDir, fingerprint: 'x' },
    });
    const fromTokens = mkdtempSync(join(tmpdir(), 'qlip-rec-'));
    const fromImages = mkdtempSync(join(tmpdir(), 'qlip-rec-'));
    const r = await reconstructDataset(runtime(), { input: tok, out: fromTokens });
    expect(r).toMatchObject({ mode: 'dataset', written: 5 });
    await reconstructImages(runtime(), { input: imgDir, out: fromImages });
    for (const n of ['a.png', 'sub/deeper/d.png']) {
      const a = await decodeImage(join(fromTokens, n));
      const b = await decodeImage(join(fromImages, n));
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    }
    expect(existsSync(join(fromTokens, 'b.png'))).toBe(true);
  });

  it('refuses a dataset made for another token geometry', async () => {
    const tok = mkdtempSync(join(tmpdir(), 'qlip-tok-'));
    await tokenizeDirectory(runtime(), {
      input: imgDir,
      out: tok,
      model: { path: modelDir, fingerprint: 'x' },
    });
    const other = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 6 }), 1);
    await expect(reconstructDataset(tfjsRuntime(other), { input: tok, out: tok })).rejects.toThrow(
      /meta\.json: tokens are 8-bit on a 4x4 grid at 16px; the model expects 6-bit/,
    );
    other.dispose();
  });
});
