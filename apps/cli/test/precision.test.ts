import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { mnistDataDir, parseIdxImages } from '@qlip/data';
import { defaultModelDir } from '@qlip/pretrained';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const DIGITS = 64;
const MNIST_MODEL = defaultModelDir(); // the shipped MNIST tokenizer

let tmp: string;
let imgs: string;
let cache: string;

// Real data: the first MNIST test digits as PNG files, tokenized by the shipped MNIST tokenizer (the default
// model), which was trained on MNIST.
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qlip-cli-precision-'));
  imgs = join(tmp, 'digits');
  cache = join(tmp, 'cache');
  await mkdir(imgs);
  const file = join(mnistDataDir(), 't10k-images-idx3-ubyte');
  const mnist = parseIdxImages(await readFile(file), file);
  const per = mnist.rows * mnist.cols;
  for (let i = 0; i < DIGITS; i++) {
    await sharp(Buffer.from(mnist.pixels.subarray(i * per, (i + 1) * per)), {
      raw: { width: mnist.cols, height: mnist.rows, channels: 1 },
    })
      .png()
      .toFile(join(imgs, `${String(i).padStart(3, '0')}.png`));
  }
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function tokenize(out: string, extra: string[]) {
  const saved = { ...process.env };
  process.env.QLIP_CACHE = cache;
  try {
    return await runCommand(['tokenize', imgs, '-o', join(tmp, out), '--json', ...extra], { root });
  } finally {
    process.env = saved;
  }
}

describe('tokenize --precision', () => {
  it('int8: ONNX Runtime, agreement with fp32 measured on MNIST and reported; meta.json records it', async () => {
    const int8 = await tokenize('int8', ['--precision', 'int8']);
    expect(int8.error).toBeUndefined();
    expect(int8.stderr).toMatch(/runtime onnx int8 \(lower precision\)/);
    const r = JSON.parse(int8.stdout);
    expect(r).toMatchObject({ runtime: 'onnx', precision: 'int8', tokenized: DIGITS });
    expect(r.agreementWithFp32).toMatchObject({ images: DIGITS, tokens: DIGITS * 16 });
    // The bound this change promises on the shipped MNIST model (measured: 97-98 % of indices, 99.8 % of bits).
    expect(r.agreementWithFp32.indicesIdentical).toBeGreaterThanOrEqual(90);
    expect(r.agreementWithFp32.bitsAgreeing).toBeGreaterThanOrEqual(99);
    const meta = JSON.parse(await readFile(join(tmp, 'int8', 'meta.json'), 'utf8'));
    expect(meta.precision).toBe('int8');

    // fp32 (the default) is unchanged: no precision in the result or meta.json.
    const fp32 = await tokenize('fp32', []);
    expect(fp32.error).toBeUndefined();
    const f = JSON.parse(fp32.stdout);
    expect(f.runtime).toBe('onnx');
    expect(f.precision).toBeUndefined();
    expect(f.agreementWithFp32).toBeUndefined();
    expect(JSON.parse(await readFile(join(tmp, 'fp32', 'meta.json'), 'utf8')).precision).toBeUndefined();

    // --agreement-images 0: no fp32 run beside it, no agreement reported (the precision still is).
    const none = JSON.parse(
      (await tokenize('int8-none', ['--precision', 'int8', '--agreement-images', '0'])).stdout,
    );
    expect(none).toMatchObject({ precision: 'int8', tokenized: DIGITS });
    expect(none.agreementWithFp32).toBeUndefined();

    // An int8 dataset is never extended at fp32 (nor the reverse).
    const mixed = await tokenize('int8', []);
    expect(JSON.parse(mixed.stdout).error.message).toMatch(/different precision \("int8" vs undefined\)/);
  });

  it('refuses bad values and combinations that cannot run int8, saying why', async () => {
    const bad = await tokenize('bad', ['--precision', 'bf16']);
    expect(JSON.parse(bad.stdout).error.message).toMatch(
      /Expected --precision=bf16 to be one of: fp32, int8/,
    );
    const tfjs = await tokenize('tfjs', ['--precision', 'int8', '--runtime', 'tfjs']);
    expect(JSON.parse(tfjs.stdout).error.message).toMatch(
      /precision int8 runs on ONNX Runtime \(--runtime auto or onnx\); the tfjs runtime computes in fp32/,
    );
    const features = await tokenize('features', ['--precision', 'int8', '--features']);
    expect(JSON.parse(features.stdout).error.message).toMatch(
      /precision int8 runs on ONNX Runtime.*features/,
    );
  });

  it('export onnx --precision int8: standard ONNX ops, verified by agreement with the fp32 model', async () => {
    const out = join(tmp, 'export-int8');
    const r = await runCommand(
      ['export', 'onnx', '-m', MNIST_MODEL, '-o', out, '--precision', 'int8', '--json'],
      { root },
    );
    expect(r.error).toBeUndefined();
    const report = JSON.parse(r.stdout);
    expect(report.verification).toMatchObject({ passed: true, precision: 'int8' });
    expect(report.verification.agreementWithFp32.bitsAgreeing).toBeGreaterThanOrEqual(99);
    expect(['passed', 'skipped']).toContain(report.checker.status); // skipped without python3-onnx
    expect(JSON.parse(await readFile(join(out, 'qlip-onnx.json'), 'utf8')).precision).toBe('int8');
  });
});
