import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../fixtures/qlip-reference/qlip-tiny-eva', import.meta.url));

let tmp: string;
let model: string;
let imgs: string;
let modelFiles: string[];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qlip-cli-auto-'));
  model = join(tmp, 'model');
  await cp(FIXTURE, model, { recursive: true });
  modelFiles = (await readdir(model)).sort();
  imgs = join(tmp, 'imgs');
  await mkdir(imgs);
  for (let i = 0; i < 4; i++) {
    const px = Buffer.alloc(24 * 20 * 3);
    for (let j = 0; j < px.length; j++) px[j] = (j * (7 + i) + 31 * i) % 256;
    await sharp(px, { raw: { width: 24, height: 20, channels: 3 } })
      .png()
      .toFile(join(imgs, `${i}.png`));
  }
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function tokenize(out: string, extra: string[], env: Record<string, string> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const r = await runCommand(
      ['tokenize', imgs, '-m', model, '-o', join(tmp, out), '--backend', 'cpu', ...extra],
      {
        root,
      },
    );
    expect(r.error).toBeUndefined();
    return { ...r, tokens: await readFile(join(tmp, out, 'parts', '00000', 'tokens.npy')) };
  } finally {
    process.env = saved;
  }
}

describe('--runtime auto (the default)', () => {
  it('runs ONNX Runtime on graphs exported once into the cache, with the tfjs indices', async () => {
    const cache = join(tmp, 'cache');
    const first = await tokenize('auto1', [], { QLIP_CACHE: cache });
    expect(first.stderr).toMatch(/exporting ONNX graphs to .*cache/);
    expect(first.stderr).toMatch(/exported the ONNX graphs once to /);
    expect(first.stdout).toMatch(/4 images tokenized/);
    expect((await readdir(join(cache, 'onnx'))).length).toBe(1);
    expect((await readdir(model)).sort()).toEqual(modelFiles); // nothing written into the model folder

    const again = await tokenize('auto2', ['--json'], { QLIP_CACHE: cache });
    expect(JSON.parse(again.stdout)).toMatchObject({ runtime: 'onnx', tokenized: 4 });
    expect(again.stderr).not.toMatch(/exporting ONNX/); // reused

    const tfjs = await tokenize('tfjs', ['--runtime', 'tfjs', '--json']);
    expect(JSON.parse(tfjs.stdout)).toMatchObject({ runtime: 'tfjs', tokenized: 4 });
    expect(first.tokens.length).toBeGreaterThan(4 * 16 * 4);
    expect(first.tokens.equals(tfjs.tokens)).toBe(true);
    expect(again.tokens.equals(tfjs.tokens)).toBe(true);
  });

  it('falls back to tfjs with a note when no export can be made, and for --features', async () => {
    const notADir = join(tmp, 'cache-file');
    await writeFile(notADir, 'not a folder');
    const fb = await tokenize('fallback', [], { QLIP_CACHE: notADir });
    expect(fb.stderr).toMatch(/runtime: tfjs \(ONNX Runtime unavailable: .*cache-file/);
    const tfjs = await tokenize('tfjs2', ['--runtime', 'tfjs']);
    expect(fb.tokens.equals(tfjs.tokens)).toBe(true);

    const feat = await tokenize('features', ['--features']);
    expect(feat.stderr).toMatch(/runtime: tfjs \(post-quantisation features/);
  });

  it('--runtime onnx without an export in the model folder exports into the cache too', async () => {
    const cache = join(tmp, 'cache-onnx');
    const r = await tokenize('onnx', ['--runtime', 'onnx', '--json'], { QLIP_CACHE: cache });
    expect(JSON.parse(r.stdout)).toMatchObject({ runtime: 'onnx', tokenized: 4 });
    expect((await readdir(join(cache, 'onnx'))).length).toBe(1);
    expect((await readdir(model)).sort()).toEqual(modelFiles);
  });
});
