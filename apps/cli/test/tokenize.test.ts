import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { QLIPModel } from '@qlip/model';
import { tinyConfig } from '@qlip/test-utils';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
let modelDir: string;
let imgDir: string;

beforeAll(async () => {
  modelDir = mkdtempSync(join(tmpdir(), 'qlip-cli-model-'));
  const model = QLIPModel.create(tinyConfig({ image: 16, patch: 4, bits: 8 }), 1);
  await model.save(modelDir);
  model.dispose();
  imgDir = mkdtempSync(join(tmpdir(), 'qlip-cli-imgs-'));
  for (let i = 0; i < 3; i++) {
    const px = Buffer.alloc(20 * 20 * 3, 40 * i);
    await sharp(px, { raw: { width: 20, height: 20, channels: 3 } })
      .png()
      .toFile(join(imgDir, `img${i}.png`));
  }
});

describe('qlip tokenize / reconstruct', () => {
  it('tokenizes a folder and reports the dataset as JSON', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'qlip-cli-')), 'tokens');
    const { stdout, error } = await runCommand(
      [
        'tokenize',
        imgDir,
        '--model',
        modelDir,
        '--out',
        out,
        '--json',
        '--backend',
        'wasm',
        '--runtime',
        'tfjs',
      ],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({
      shards: { total: 1, written: 1 },
      tokenized: 3,
      total: 3,
      bits: 8,
      grid: [4, 4],
      runtime: 'tfjs',
    });
    expect(existsSync(join(out, 'parts', '00000', 'tokens.npy'))).toBe(true);
    expect(existsSync(join(out, 'parts', '00000', 'done.json'))).toBe(true);

    const rec = join(mkdtempSync(join(tmpdir(), 'qlip-cli-')), 'png');
    const res = await runCommand(
      ['reconstruct', out, '--model', modelDir, '--out', rec, '--json', '--backend', 'wasm'],
      { root },
    );
    expect(res.error).toBeUndefined();
    expect(JSON.parse(res.stdout)).toMatchObject({ mode: 'dataset', written: 3 });
    expect(existsSync(join(rec, 'img2.png'))).toBe(true);
  });

  it('--strict fails when a file is unreadable, after tokenizing the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-cli-imgs-'));
    await sharp(Buffer.alloc(16 * 16 * 3, 9), { raw: { width: 16, height: 16, channels: 3 } })
      .png()
      .toFile(join(dir, 'ok.png'));
    writeFileSync(join(dir, 'bad.jpg'), 'garbage');
    const out = join(mkdtempSync(join(tmpdir(), 'qlip-cli-')), 'tokens');
    const { error } = await runCommand(
      ['tokenize', dir, '--model', modelDir, '--out', out, '--strict', '--backend', 'wasm'],
      { root },
    );
    expect(error?.message).toMatch(/1 file\(s\) could not be read \(--strict\)/);
    expect(existsSync(join(out, 'parts', '00000', 'index.jsonl'))).toBe(true);
  });

  it('uses the shipped qlip-tiny-mnist checkpoint when --model is absent', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'qlip-cli-')), 'tokens');
    const { stdout, error } = await runCommand(
      ['tokenize', imgDir, '--out', out, '--json', '--backend', 'wasm'],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ tokenized: 3, bits: 16, grid: [4, 4] });
  });

  it('names a model directory that is not a QLIP model', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'qlip-cli-empty-'));
    const { error } = await runCommand(
      ['tokenize', imgDir, '--model', empty, '--out', join(empty, 'o'), '--backend', 'wasm'],
      { root },
    );
    expect(error?.message).toContain(`${empty}: not a QLIP model directory`);
  });
});
