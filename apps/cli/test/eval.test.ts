import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('qlip eval and qlip demo (shipped checkpoint)', () => {
  it('demo runs the whole quick-start job and reports every step as JSON', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'qlip-demo-')), 'demo-out');
    const { stdout, error } = await runCommand(
      ['demo', '--out', out, '--images', '40', '--json', '--backend', 'wasm'],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r.tokenize).toMatchObject({ tokenized: 40, total: 40, bits: 16 });
    expect(r.reconstruct.written).toBe(40);
    expect(r.zeroShot.classes.length).toBeGreaterThanOrEqual(8); // the digits among the first 40 test images
    expect(r.zeroShot.top1).toBeGreaterThan(0.3); // a trained model, far above chance on digits
    expect(r.reconstruction.psnr).toBeGreaterThan(12);
    for (const f of [
      'README.md',
      'zero-shot/confusion.png',
      'reconstruction/grid.png',
      'tokens/parts/00000/tokens.npy',
    ]) {
      expect(existsSync(join(out, f))).toBe(true);
    }

    const zs = await runCommand(
      ['eval', 'zero-shot', '--data', join(out, 'images'), '--limit', '20', '--json', '--backend', 'wasm'],
      { root },
    );
    expect(zs.error).toBeUndefined();
    const z = JSON.parse(zs.stdout);
    expect(z).toMatchObject({ images: 20, templates: 80 });
    expect(z.confusion).toHaveLength(r.zeroShot.classes.length);

    const rec = await runCommand(
      [
        'eval',
        'reconstruction',
        '--data',
        join(out, 'images'),
        '--limit',
        '16',
        '--out',
        join(out, 'r'),
        '--per-image',
        join(out, 'r', 'per-image.csv'),
        '--json',
        '--backend',
        'wasm',
      ],
      { root },
    );
    expect(rec.error).toBeUndefined();
    const rr = JSON.parse(rec.stdout);
    expect(rr).toMatchObject({ images: 16, bitsPerImage: 256, frechetDistance: null, failed: [] });
    expect(existsSync(join(out, 'r', 'grid.png'))).toBe(true);
    const perImage = readFileSync(join(out, 'r', 'per-image.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(perImage[0]).toBe('key,psnr,ssim');
    expect(perImage).toHaveLength(17);
    expect(rr.files).toContain(join(out, 'r', 'per-image.csv'));
  });

  it('explains bad evaluation data', async () => {
    const one = mkdtempSync(join(tmpdir(), 'qlip-eval-bad-'));
    mkdirSync(join(one, 'only'));
    writeFileSync(join(one, 'only', 'x.png'), 'not an image');
    const a = await runCommand(['eval', 'zero-shot', '--data', one, '--backend', 'wasm'], { root });
    expect(a.error?.message).toMatch(/needs at least 2 classes, found 1/);
    const b = await runCommand(['eval', 'reconstruction', '--data', join(one, 'nope'), '--backend', 'wasm'], {
      root,
    });
    expect(b.error?.message).toMatch(/nope: no such file or folder/);
    const c = await runCommand(['eval', 'reconstruction', '--data', one, '--backend', 'wasm'], { root });
    expect(c.error?.message).toMatch(/no readable images to evaluate \(1 unreadable\)/);
  });
});
