import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { QLIPModel } from '@qlip/model';
import { defaultModelDir } from '@qlip/pretrained';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'qlip-cli-visible-'));
const imgs = join(tmp, 'imgs');

beforeAll(async () => {
  mkdirSync(imgs);
  // 400x300 -> 32 px: downscaled 9.4x. A half-transparent digit-sized image. A plain 28x28 one.
  await sharp({ create: { width: 400, height: 300, channels: 3, background: '#404040' } })
    .png()
    .toFile(join(imgs, 'big.png'));
  await sharp({
    create: { width: 28, height: 28, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } },
  })
    .png()
    .toFile(join(imgs, 'clear.png'));
  await sharp({ create: { width: 28, height: 28, channels: 3, background: '#000' } })
    .png()
    .toFile(join(imgs, 'plain.png'));
});

describe('the model and its limits are visible', () => {
  it('tokenize names the model and warns about downscaling and transparency; --background is recorded', async () => {
    const out = join(tmp, 'tokens');
    const r = await runCommand(
      ['tokenize', imgs, '--out', out, '--background', 'white', '--backend', 'wasm', '--json'],
      {
        root,
      },
    );
    expect(r.error).toBeUndefined();
    expect(r.stderr).toMatch(
      /model: qlip-tiny-mnist \(.*\): 32x32 px input, 4x4 tokens of 16 bits \(patch 8\), runtime onnx; trained on mnist/,
    );
    expect(r.stderr).toMatch(/warning: .*big\.png is 400x300, downscaled 9\.4x to the model's 32x32 input/);
    expect(r.stderr).toMatch(
      /warning: .*clear\.png has transparent pixels: composited on white \(--background white\)/,
    );
    expect(r.stderr).not.toMatch(/plain\.png/);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.preprocessing.alpha).toBe('white');
    const plain = await runCommand(['tokenize', imgs, '--out', join(tmp, 't2'), '--backend', 'wasm'], {
      root,
    });
    expect(plain.stderr).toMatch(
      /clear\.png has transparent pixels: alpha dropped .* as in training .*--background white\|black/,
    );
  });

  it('reconstruct on a token dataset uses the model in its meta.json, and warns when --model differs', async () => {
    const rec = await runCommand(
      ['reconstruct', join(tmp, 'tokens'), '--out', join(tmp, 'rec'), '--backend', 'wasm', '--json'],
      {
        root,
      },
    );
    expect(rec.error).toBeUndefined();
    expect(rec.stderr).toMatch(/decoding with the model recorded in .*meta\.json/);
    expect(rec.stderr).toContain(`model: ${defaultModelDir()}`);
    // Same geometry, other weights.
    const other = join(tmp, 'other-model');
    const config = JSON.parse(readFileSync(join(defaultModelDir(), 'config.json'), 'utf8'));
    const m = QLIPModel.create(config, 7);
    await m.save(other);
    m.dispose();
    const diff = await runCommand(
      [
        'reconstruct',
        join(tmp, 'tokens'),
        '--model',
        other,
        '--out',
        join(tmp, 'rec2'),
        '--backend',
        'wasm',
        '--json',
      ],
      { root },
    );
    expect(diff.error).toBeUndefined();
    expect(diff.stderr).toMatch(
      /warning: .*other-model is not the model that tokenized .*meta\.json records/,
    );
  });

  it('export names the model it exports', async () => {
    const r = await runCommand(
      [
        'export',
        'safetensors',
        '--model',
        defaultModelDir(),
        '--out',
        join(tmp, 'exported'),
        '--no-verify',
        '--json',
      ],
      { root },
    );
    expect(r.error).toBeUndefined();
    expect(r.stderr).toMatch(
      /model: .*qlip-tiny-mnist: 32x32 px input, 4x4 tokens of 16 bits .*trained on mnist/,
    );
  });
});
