import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { denormalizeImages, selectBackend, writePng } from '@qlip/core';
import { mnistSource } from '@qlip/data';
import { QLIPModel } from '@qlip/model';
import { defaultModelDir } from '@qlip/pretrained';
import { ClipBpe } from '@qlip/text-encoder';
import { tfjsRuntime } from '@qlip/tokenize';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateReconstruction, evaluateZeroShot, psnr } from '../src/index.js';

let model: QLIPModel;
let digits: string;
const CLASSES = ['one', 'seven', 'zero'];

beforeAll(async () => {
  await selectBackend('wasm');
  model = await QLIPModel.load(defaultModelDir());
  digits = mkdtempSync(join(tmpdir(), 'qlip-eval-'));
  const src = await mnistSource({ split: 'test', limit: 60 });
  for await (const s of src.samples({ rng: null, seen() {}, skip() {} })) {
    if (!CLASSES.includes(s.className!)) continue;
    await writePng(join(digits, s.className!, `${s.key.split('/').pop()}.png`), (await s.image()) as never);
  }
  writeFileSync(join(digits, 'seven', 'broken.png'), 'not an image');
});

describe('evaluateZeroShot', () => {
  it('agrees with a direct computation from the model embeddings and writes the report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-eval-out-'));
    const templates = ['a photo of the number {}.'];
    const perImage = join(out, 'per-image.jsonl');
    const r = await evaluateZeroShot(tfjsRuntime(model), {
      data: digits,
      templates,
      batchSize: 8,
      out,
      perImage,
    });
    expect(r.classes).toEqual(CLASSES);
    expect(r.failed).toEqual([
      { path: 'seven/broken.png', reason: expect.stringMatching(/.+/), kind: 'corrupt' },
    ]);
    expect(r.skipped.map((s) => s.key)).toEqual(['seven/broken.png']); // deprecated alias
    const rows = readFileSync(perImage, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(r.images);
    expect(rows.filter((x) => x.correct).length / rows.length).toBeCloseTo(r.top1, 10);
    expect(rows[0]).toEqual({
      key: expect.stringMatching(/^(one|seven|zero)\/.+\.png$/),
      label: expect.any(String),
      predicted: expect.any(String),
      correct: expect.any(Boolean),
      score_predicted: expect.any(Number),
      score_label: expect.any(Number),
    });
    for (const x of rows) expect(x.score_predicted).toBeGreaterThanOrEqual(x.score_label);
    expect(r.files).toContain(perImage);
    expect(r.perClass.reduce((a, p) => a + p.count, 0)).toBe(r.images);
    for (let i = 0; i < 3; i++) expect(r.confusion[i]!.reduce((a, b) => a + b, 0)).toBe(r.perClass[i]!.count);

    // Direct: one template, so the class embedding is the prompt embedding itself.
    const ctx = model.config.text_config.max_position_embeddings;
    const ids = ClipBpe.default().tokenize(
      CLASSES.map((c) => `a photo of the number ${c}.`),
      ctx,
    );
    const text = model.textEmbeddings(ids, { contextLength: ctx, normalize: true });
    const { createDataset } = await import('@qlip/data');
    const ds = await createDataset({
      source: { kind: 'classFolder', path: digits },
      imageSize: 32,
      batchSize: 64,
      shuffle: false,
      epochs: 1,
      augment: false,
    });
    let right = 0;
    let seen = 0;
    for await (const b of ds.batches()) {
      const pred = await tf
        .tidy(() =>
          tf.argMax(
            tf.matMul(
              model.imageEmbeddings(tf.tensor4d(b.images, b.shape), { normalize: true }),
              tf.transpose(text),
            ),
            1,
          ),
        )
        .data();
      for (let i = 0; i < pred.length; i++) right += pred[i] === b.labels[i] ? 1 : 0;
      seen += pred.length;
    }
    text.dispose();
    expect(r.images).toBe(seen);
    expect(r.top1).toBeCloseTo(right / seen, 10);
    expect(r.top5).toBe(1); // only 3 classes
    expect(existsSync(join(out, 'report.md'))).toBe(true);
    expect(existsSync(join(out, 'confusion.png'))).toBe(true);
  });

  it('spreads a --limit subset over the classes instead of taking the first folder', async () => {
    const r = await evaluateZeroShot(tfjsRuntime(model), {
      data: digits,
      templates: ['a photo of the number {}.'],
      limit: 9,
    });
    expect(r.images).toBe(9);
    expect(r.perClass.filter((p) => p.count > 0).length).toBeGreaterThan(1);
  });

  it('refuses a single class and an empty folder, naming the data', async () => {
    const one = mkdtempSync(join(tmpdir(), 'qlip-eval-one-'));
    mkdirSync(join(one, 'only'));
    await writePng(join(one, 'only', 'a.png'), { width: 8, height: 8, data: new Uint8Array(192) });
    await expect(evaluateZeroShot(tfjsRuntime(model), { data: one })).rejects.toThrow(
      /needs at least 2 classes, found 1/,
    );
    await expect(evaluateZeroShot(tfjsRuntime(model), { data: join(one, 'missing') })).rejects.toThrow(
      /missing: no such file or folder/,
    );
  });
});

describe('evaluateReconstruction', () => {
  it('takes a plain folder of images (no class sub-folders)', async () => {
    const flat = mkdtempSync(join(tmpdir(), 'qlip-eval-flat-'));
    for (let i = 0; i < 3; i++)
      await writePng(join(flat, `${i}.png`), {
        width: 28,
        height: 28,
        data: new Uint8Array(28 * 28 * 3).fill(40 * i),
      });
    const r = await evaluateReconstruction(tfjsRuntime(model), { data: flat });
    expect(r.images).toBe(3);
  });

  it('reports PSNR/SSIM of the tokenizer round trip, codebook usage and compression', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-eval-out-'));
    const r = await evaluateReconstruction(tfjsRuntime(model), {
      data: digits,
      batchSize: 8,
      limit: 8,
      out,
      gridCount: 4,
    });
    expect(r.images).toBe(8);
    expect(r.bitsPerImage).toBe(16 * 16);
    expect(r.compressionRatio).toBeCloseTo((24 * 64) / 16, 10);
    expect(r.codebook.distinctCodes).toBeGreaterThan(1);
    expect(r.codebook.perBitEntropy).toHaveLength(16);
    expect(r.frechetDistance).toBeNull();
    // Without --limit: the mean PSNR equals psnr() on the model's own reconstructions of every image.
    const all = await evaluateReconstruction(tfjsRuntime(model), { data: digits, batchSize: 8 });
    const { createDataset } = await import('@qlip/data');
    const ds = await createDataset({
      source: { kind: 'classFolder', path: digits },
      imageSize: 32,
      batchSize: 8,
      shuffle: false,
      epochs: 1,
      augment: false,
    });
    let sum = 0;
    let count = 0;
    for await (const b of ds.batches()) {
      const x = tf.tensor4d(b.images, b.shape);
      const rec = model.reconstruct(x);
      const a = denormalizeImages(b.images, b.shape).map((im) => ({ ...im, channels: 3 }));
      const c = denormalizeImages(await rec.data(), b.shape).map((im) => ({ ...im, channels: 3 }));
      tf.dispose([x, rec]);
      a.forEach((im, i) => {
        sum += psnr(im, c[i]!);
        count++;
      });
    }
    expect(all.images).toBe(count);
    expect(all.psnr).toBeCloseTo(sum / count, 6);
    expect(existsSync(join(out, 'grid.png'))).toBe(true);
    // 32 px tiles are drawn 4x (nearest neighbour) so the reconstruction can be judged by eye.
    const grid = await sharp(join(out, 'grid.png')).metadata();
    expect(grid.height).toBe(4 + 128 + 4);
  });

  it('writes per-image PSNR/SSIM to CSV whose mean is the reported mean; refuses other extensions first', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qlip-eval-out-'));
    const csv = join(out, 'metrics.csv');
    const r = await evaluateReconstruction(tfjsRuntime(model), { data: digits, limit: 6, perImage: csv });
    const [header, ...lines] = readFileSync(csv, 'utf8').trim().split('\n');
    expect(header).toBe('key,psnr,ssim');
    expect(lines).toHaveLength(6);
    const psnrs = lines.map((l) => Number(l.split(',')[1]));
    expect(psnrs.reduce((a, b) => a + b, 0) / 6).toBeCloseTo(r.psnr, 10);
    await expect(
      evaluateReconstruction(tfjsRuntime(model), { data: digits, perImage: join(out, 'm.txt') }),
    ).rejects.toThrow(/--per-image .*m\.txt: expected a \.csv or \.jsonl file name/);
  });
});
