import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage } from '@qlip/core';
import { MNIST_CLASS_NAMES, MNIST_TEMPLATES } from '@qlip/data';
import { readQLIPConfig } from '@qlip/model';
import { defaultModelDir } from '@qlip/pretrained';
import { readTokenDataset, tokenizeDataset } from '@qlip/tokenize';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QLIP } from '../src/index.js';
import { mnistDigits } from './mnist.js';

const tmp = mkdtempSync(join(tmpdir(), 'qlip-api-'));
const logs: string[] = [];
let q: QLIP;
let digits: { png: Buffer; label: string }[];

beforeAll(async () => {
  q = await QLIP.fromPretrained(undefined, { backend: 'wasm', log: (m) => logs.push(m) });
  digits = await mnistDigits(40);
});
afterAll(() => q.dispose());

describe('QLIP library API (shipped qlip-tiny-mnist)', () => {
  it('describes the model it loaded', async () => {
    // What the shipped checkpoint's config.json says, not numbers restated here.
    const v = (await readQLIPConfig(join(defaultModelDir(), 'config.json'))).vision_config;
    const [s, side, bits] = [v.image_size, v.image_size / v.patch_size, v.quantizer_cfg.embed_dim];
    expect(q.info).toMatchObject({
      name: 'qlip-tiny-mnist',
      source: 'shipped',
      imageSize: s,
      grid: [side, side],
      bits,
    });
    expect(q.describe()).toMatch(
      new RegExp(
        `^model: qlip-tiny-mnist \\(.*\\): ${s}x${s} px input, ${side}x${side} tokens of ${bits} bits`,
      ),
    );
  });

  it('tokenizes paths, Buffers and decoded RGB alike, with the indices qlip tokenize writes', async () => {
    const files = digits.slice(0, 3).map((_, i) => join(tmp, 'digits', `d${i}.png`));
    mkdirSync(join(tmp, 'digits'), { recursive: true });
    for (const [i, p] of files.entries()) writeFileSync(p, digits[i]!.png);
    const byPath = await q.tokenize(files);
    const byBuffer = await q.tokenize(digits.slice(0, 3).map((d) => d.png));
    const byRgb = await q.tokenize(await Promise.all(files.map((f) => decodeImage(f))));
    expect(byPath).toMatchObject({ batch: 3, grid: [4, 4], bits: 16 });
    expect(byPath.indices.length).toBe(3 * 16);
    expect(byBuffer.indices).toEqual(byPath.indices);
    expect(byRgb.indices).toEqual(byPath.indices);
    // The CLI's tokenize job over the same runtime writes the same indices.
    const job = await tokenizeDataset(q.runtime, {
      input: join(tmp, 'digits'),
      out: join(tmp, 'tokens'),
      model: { path: q.info.dir, fingerprint: 'x' },
    });
    expect(job.tokenized).toBe(3);
    const ds = await readTokenDataset(join(tmp, 'tokens'));
    expect(ds.entries.length).toBe(3);
    for (const e of ds.entries) {
      const fromJob = await ds.loadTokens(e.shard);
      const r = files.findIndex((f) => f.endsWith(e.path));
      expect(fromJob.subarray(e.row * 16, (e.row + 1) * 16)).toEqual(
        byPath.indices.subarray(r * 16, (r + 1) * 16),
      );
    }
  });

  it('decodes token grids to 32x32 RGB images close to the inputs', async () => {
    const tokens = await q.tokenize(digits.slice(0, 4).map((d) => d.png));
    const images = await q.decode(tokens);
    expect(images.map((i) => [i.width, i.height, i.data.length])).toEqual(
      Array(4).fill([32, 32, 32 * 32 * 3]),
    );
    const orig = await decodeImage(
      await sharp(digits[0]!.png).resize(32, 32, { kernel: 'cubic' }).png().toBuffer(),
    );
    let se = 0;
    for (let i = 0; i < orig.data.length; i++) se += (orig.data[i]! - images[0]!.data[i]!) ** 2;
    const psnr = 10 * Math.log10(255 ** 2 / (se / orig.data.length));
    expect(psnr).toBeGreaterThan(12);
    expect(await q.decode(Array.from({ length: 1 }, () => Array(16).fill(0)))).toHaveLength(1);
    await expect(q.decode(new Uint32Array(15))).rejects.toThrow(/do not form whole 4x4 grids/);
    await expect(q.decode(new Uint32Array(16).fill(2 ** 16))).rejects.toThrow(/not below 2\^16/);
  });

  it('embeds images and texts as unit vectors', async () => {
    const [img] = await q.embedImages(digits[0]!.png);
    const texts = await q.embedTexts(['a photo of the number seven.', 'a photo of the number two.']);
    const norm = (v: Float32Array) => Math.hypot(...v);
    expect(texts).toHaveLength(2);
    expect(norm(img!)).toBeCloseTo(1, 4);
    expect(norm(texts[0]!)).toBeCloseTo(1, 4);
    expect(img!.length).toBe(texts[0]!.length);
  });

  it('classifies MNIST digits zero-shot from their names', async () => {
    const preds = await q.zeroShot(
      digits.map((d) => d.png),
      [...MNIST_CLASS_NAMES],
      { templates: MNIST_TEMPLATES },
    );
    const correct = preds.filter((p, i) => p.label === digits[i]!.label).length;
    expect(correct / digits.length).toBeGreaterThan(0.75);
    const p = preds[0]!;
    expect(p.labels).toHaveLength(10);
    expect(p.labels.reduce((a, l) => a + l.score, 0)).toBeCloseTo(1, 5);
    expect(p.labels[0]!.score).toBe(p.score);
    await expect(q.zeroShot(digits[0]!.png, ['one'])).rejects.toThrow(/at least 2 labels/);
    await expect(q.zeroShot(digits[0]!.png, ['a', 'b'], { templates: ['no slot'] })).rejects.toThrow(
      /has no \{\}/,
    );
  });

  it('warns once about large downscales and transparency; --background chooses the composite colour', async () => {
    logs.length = 0;
    const big = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    await q.tokenize([big, big]);
    expect(logs).toEqual([
      expect.stringMatching(/image [01] is 400x300, downscaled 9\.4x to the model's 32x32 input/),
    ]);
    const clear = await sharp({
      create: { width: 32, height: 32, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } },
    })
      .png()
      .toBuffer();
    await q.tokenize(clear);
    expect(logs[1]).toMatch(/image 0 has transparent pixels: alpha dropped .* as in training/);
    const onBlack = await QLIP.fromPretrained(undefined, { background: 'black', log: () => {} });
    const onWhite = await QLIP.fromPretrained(undefined, { background: 'white', log: () => {} });
    try {
      const [b] = await onBlack.decode(await onBlack.tokenize(clear));
      const [w] = await onWhite.decode(await onWhite.tokenize(clear));
      const mean = (x: Uint8Array) => x.reduce((a, v) => a + v, 0) / x.length;
      expect(mean(w!.data) - mean(b!.data)).toBeGreaterThan(50);
      expect(onBlack.preprocessing.alpha).toBe('black');
    } finally {
      onBlack.dispose();
      onWhite.dispose();
    }
  });

  it('names the problem: missing models, an ONNX export that cannot be made, an unknown runtime', async () => {
    await expect(QLIP.fromPretrained(join(tmp, 'nope'))).rejects.toThrow(
      /no such model directory, and not a Hugging Face hub id/,
    );
    const notADir = join(tmp, 'cache-is-a-file');
    writeFileSync(notADir, 'x');
    await expect(
      QLIP.fromPretrained(undefined, { runtime: 'onnx', onnxCacheDir: notADir, log: () => {} }),
    ).rejects.toThrow(/cache-is-a-file.*cannot create the output directory/);
    await expect(QLIP.fromPretrained(undefined, { runtime: 'gpu' as 'onnx' })).rejects.toThrow(
      /runtime must be auto, tfjs or onnx/,
    );
  });
});
