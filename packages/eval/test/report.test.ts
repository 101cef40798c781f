import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import {
  confusionMatrixPng,
  confusionMatrixSvg,
  formatNumber,
  gridUpscale,
  type Image,
  markdownTable,
  reconstructionGridPng,
  renderMarkdownReport,
  writeMarkdownReport,
} from '../src/index.js';

describe('Markdown', () => {
  test('table with escaped cells and right-aligned numeric columns', () => {
    expect(
      markdownTable(
        ['name', 'psnr'],
        [
          ['a|b', 30.12345],
          ['c', Number.POSITIVE_INFINITY],
        ],
      ),
    ).toBe(['| name | psnr |', '| --- | ---: |', '| a\\|b | 30.12 |', '| c | inf |'].join('\n'));
    expect(() => markdownTable(['a'], [[1, 2]])).toThrow(/row 0 has 2 cells/);
  });

  test('number formatting', () => {
    expect(formatNumber(3)).toBe('3');
    expect(formatNumber(0.5)).toBe('0.5');
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(Number.NaN)).toBe('n/a');
    expect(formatNumber(12345.678)).toBe('12345.7');
  });

  test('report: metrics, per-class rows worst first, images, notes', async () => {
    const report = {
      title: 'QLIP-B-16 on a tiny set',
      meta: { backend: 'wasm' },
      metrics: { PSNR: 23.5, 'top-1': 0.75 },
      perClass: { names: ['tench', 'goldfish', 'shark'], accuracy: [1, 0.5, Number.NaN], counts: [2, 2, 0] },
      images: [{ caption: 'reconstructions', path: 'grid one.png' }],
      notes: ['rFID uses the NSFW-fine-tuned InceptionV3'],
    };
    const md = renderMarkdownReport(report);
    expect(md.startsWith('# QLIP-B-16 on a tiny set\n')).toBe(true);
    expect(md).toContain('| PSNR | 23.5 |');
    expect(md.indexOf('| shark | n/a | 0 |')).toBeLessThan(md.indexOf('| goldfish | 0.5 | 2 |'));
    expect(md.indexOf('| goldfish | 0.5 | 2 |')).toBeLessThan(md.indexOf('| tench | 1 | 2 |'));
    expect(md).toContain('![reconstructions](grid%20one.png)');
    expect(md).toContain('- rFID uses');
    const dir = await mkdtemp(join(tmpdir(), 'qlip-eval-'));
    await writeMarkdownReport(join(dir, 'sub', 'report.md'), report);
    expect(await readFile(join(dir, 'sub', 'report.md'), 'utf8')).toBe(md);
    expect(() =>
      renderMarkdownReport({ title: 't', perClass: { names: ['a'], accuracy: [1, 2], counts: [1] } }),
    ).toThrow(/1 names, 2 accuracies/);
  });
});

describe('PNG outputs', () => {
  const solid = (v: number, h = 4, w = 5): Image => ({
    data: new Uint8Array(h * w * 3).fill(v),
    height: h,
    width: w,
    channels: 3,
  });

  test('reconstruction grid puts each reconstruction right of its original', async () => {
    const png = await reconstructionGridPng(
      [solid(0), solid(100), solid(200)],
      [solid(50), solid(150), solid(250)],
      {
        pairsPerRow: 2,
        gap: 2,
        scale: 1,
      },
    );
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // Width: gap + 2 pairs * (2*5 + 2*gap) = 2 + 2 * 14 = 30; height: gap + 2 rows * (4 + gap) = 14.
    expect([info.width, info.height, info.channels]).toEqual([30, 14, 3]);
    const at = (x: number, y: number) => data[(y * info.width + x) * 3];
    expect(at(2, 2)).toBe(0); // pair 0 original
    expect(at(7, 2)).toBe(50); // pair 0 reconstruction
    expect(at(16, 2)).toBe(100); // pair 1 original
    expect(at(2 + 5, 8)).toBe(250); // pair 2 (second row) reconstruction
    expect(at(0, 0)).toBe(255); // background
    await expect(reconstructionGridPng([solid(0)], [solid(0, 4, 6)])).rejects.toThrow(/shapes differ/);
  });

  test('small images are enlarged by whole factors with nearest neighbour (no smoothing)', async () => {
    expect(gridUpscale(32, 32)).toBe(4);
    expect(gridUpscale(28, 20)).toBe(5);
    expect(gridUpscale(256, 256)).toBe(1);
    const checker: Image = {
      data: new Uint8Array([0, 0, 0, 255, 255, 255]),
      height: 1,
      width: 2,
      channels: 3,
    };
    const png = await reconstructionGridPng([checker], [checker], { gap: 0, scale: 3 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([12, 3]);
    const row = Array.from({ length: 12 }, (_, x) => data[(2 * info.width + x) * 3]);
    expect(row).toEqual([0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]);
  });

  test('confusion matrix SVG and PNG', async () => {
    const labels = ['tench', 'gold<fish>'];
    const svg = confusionMatrixSvg([3, 1, 0, 4], labels, { title: 'zero-shot' });
    expect(svg).toContain('gold&lt;fish&gt;');
    expect(svg).toContain('>3</text>');
    expect(svg).not.toContain('>0</text>'); // empty cells carry no number
    const png = await confusionMatrixPng([3, 1, 0, 4], labels);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    let dark = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i] < 60 && data[i + 2] > 80) dark++;
    expect(dark).toBeGreaterThan(100); // the full-row cell (4 of 4) is drawn in dark blue
    expect(() => confusionMatrixSvg([1, 2, 3], labels)).toThrow(/expected 2x2/);
  });
});
