import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SafetensorsReader, selectBackend, toFloat32, toInt32 } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bsqLoss,
  bsqQuantize,
  codesToGroupIndices,
  codesToIndices,
  fromOfficialQuantizerCfg,
  indicesToCodes,
} from '../src/index.js';

// Reference values computed by NVIDIA's bsq.py (fixtures/qlip-reference/qlip-tiny-eva/README.md).
const dir = fileURLToPath(new URL('../../../fixtures/qlip-reference/qlip-tiny-eva/', import.meta.url));
const config = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
const cfg = fromOfficialQuantizerCfg(config.vision_config.quantizer_cfg);

let expected: SafetensorsReader;
const f32 = async (name: string) => toFloat32(await expected.read(name));

beforeAll(async () => {
  expected = await SafetensorsReader.open(`${dir}expected.safetensors`);
});
afterAll(async () => expected.close());

function expectClose(actual: ArrayLike<number>, ref: ArrayLike<number>, atol: number): void {
  expect(actual.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - ref[i]!));
  expect(worst).toBeLessThanOrEqual(atol);
}

describe('host bit packing matches the reference', () => {
  it('indices and group indices are identical', async () => {
    const z = await f32('quant_input'); // [3, 16, 8]
    const idx = codesToIndices(z, cfg.bits);
    expect(Array.from(idx)).toEqual(Array.from(toInt32(await expected.read('indices'))));
    const gidx = codesToGroupIndices(z, cfg.bits, cfg.groupSize);
    expect(Array.from(gidx)).toEqual(Array.from(toInt32(await expected.read('group_indices'))));
  });

  it('indices -> codes reproduces the quantized tensor', async () => {
    const idx = toInt32(await expected.read('indices'));
    const codes = indicesToCodes(idx, cfg.bits, 1 / Math.sqrt(cfg.bits));
    expectClose(codes, await f32('quantized'), 1e-6);
  });
});

describe.each(['wasm', 'cpu'])('BSQ parity on the %s backend', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it('uses the requested backend', () => {
    expect(tf.getBackend()).toBe(backend);
  });

  it('quantizes to +-1/sqrt(L)', async () => {
    const z = tf.tensor3d(await f32('quant_input'), [3, 16, 8]);
    const zq = bsqQuantize(z, cfg);
    expectClose(await zq.data(), await f32('quantized'), 1e-6);
    tf.dispose([z, zq]);
  });

  it('loss terms match to 1e-5', async () => {
    const z = tf.tensor3d(await f32('quant_input'), [3, 16, 8]);
    const t = bsqLoss(z, cfg);
    expect(Math.abs((await t.loss.data())[0]! - (await f32('bsq_loss'))[0]!)).toBeLessThan(1e-6);
    expect(
      Math.abs((await t.persampleEntropy.data())[0]! - (await f32('bsq_persample_entropy'))[0]!),
    ).toBeLessThan(1e-5);
    expect(
      Math.abs((await t.codebookEntropy.data())[0]! - (await f32('bsq_codebook_entropy'))[0]!),
    ).toBeLessThan(1e-5);
    expect(Math.abs((await t.commit.data())[0]! - (await f32('bsq_commit_loss'))[0]!)).toBeLessThan(1e-6);
    tf.dispose([z, t.loss, t.commit, t.persampleEntropy, t.codebookEntropy]);
  });

  it('gradient of loss + <zq, R> matches (straight-through + entropy gradients)', async () => {
    const z = tf.tensor3d(await f32('quant_input'), [3, 16, 8]);
    const r = tf.tensor3d(await f32('bsq_grad_probe'), [3, 16, 8]);
    const g = tf.grad((x: tf.Tensor) => tf.add(bsqLoss(x, cfg).loss, tf.sum(tf.mul(bsqQuantize(x, cfg), r))))(
      z,
    );
    expectClose(await g.data(), await f32('bsq_grad_input'), 5e-6);
    tf.dispose([z, r, g]);
  });

  it('gradient of the loss alone matches', async () => {
    const z = tf.tensor3d(await f32('quant_input'), [3, 16, 8]);
    const g = tf.grad((x: tf.Tensor) => bsqLoss(x, cfg).loss)(z);
    expectClose(await g.data(), await f32('bsq_grad_loss_only'), 5e-6);
    tf.dispose([z, g]);
  });
});
