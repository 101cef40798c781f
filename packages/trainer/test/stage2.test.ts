import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { PerceptualLoss } from '@qlip/losses';
import { QLIPModel } from '@qlip/model';
import { ClipBpe } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DISCRIMINATOR_FILE, DISCRIMINATOR_OPTIMIZER_FILE, METRICS_FILE, train } from '../src/index.js';
import { SubsetPerceptual } from '../src/steps.js';
import { microConfig, tempDir } from './helpers.js';

let stage1: string;

beforeAll(async () => {
  await selectBackend('wasm');
  const out = await tempDir();
  stage1 = (await train(microConfig({ steps: 2 }), { out })).checkpoint!;
});

/** Zero-shot inputs: image and text embeddings as raw bytes. */
async function zeroShot(
  dir: string,
): Promise<{ image: Float32Array; text: Float32Array; logits: Float32Array }> {
  const model = await QLIPModel.load(dir);
  const pixels = tf.randomNormal([3, 3, 16, 16], 0, 1, 'float32', 5) as tf.Tensor4D;
  const ids = ClipBpe.default().tokenize(['a photo of the number one.', 'a photo of the number two.'], 12);
  const t = [model.imageEmbeddings(pixels), model.textEmbeddings(ids), model.logits(pixels, ids)];
  const [image, text, logits] = (await Promise.all(t.map((x) => x.data()))) as Float32Array[];
  tf.dispose([pixels, ...t]);
  model.dispose();
  return { image: image!, text: text!, logits: logits! };
}

const stage2 = {
  stage: 2,
  steps: 2,
  loss: {
    stage2: { perceptualWeight: 0, ganWeight: 0.5, discriminator: { baseChannels: 8, downsamples: 1 } },
  },
  checkpoint: { every: 1, keep: 1 },
};

describe('stage 2', () => {
  it('fine-tunes only quant_embed_post and the decoder: zero-shot results stay bit-identical', async () => {
    const before = await zeroShot(stage1);
    const out = await tempDir();
    const counts: number[] = [];
    const r = await train(microConfig(stage2), {
      out,
      init: stage1,
      onProgress: (e) => {
        if (e.unit === 'steps') counts.push(tf.memory().numTensors);
      },
    });
    expect(r).toMatchObject({ stage: 2, step: 2, init: { kind: 'qlip' } });
    expect(r.parameters.trainable).toBeLessThan(r.parameters.total / 4);
    expect(counts[1]).toBe(counts[0]);
    const after = await zeroShot(r.checkpoint!);
    expect(Buffer.from(after.image.buffer).equals(Buffer.from(before.image.buffer))).toBe(true);
    expect(Buffer.from(after.text.buffer).equals(Buffer.from(before.text.buffer))).toBe(true);
    expect(Buffer.from(after.logits.buffer).equals(Buffer.from(before.logits.buffer))).toBe(true);

    // ...while the decoder side did train.
    const a = await QLIPModel.load(stage1);
    const b = await QLIPModel.load(r.checkpoint!);
    for (const [name, v] of a.params) {
      const same = Buffer.from((await v.data()).buffer).equals(
        Buffer.from((await b.params.get(name)!.data()).buffer),
      );
      const trained = name.startsWith('vision_decoder.') || name.startsWith('vision_model.quant_embed_post.');
      if (!trained) expect(same, name).toBe(true);
    }
    const w = 'vision_decoder.conv_out.weight';
    expect(Array.from(await a.params.get(w)!.data())).not.toEqual(Array.from(await b.params.get(w)!.data()));
    a.dispose();
    b.dispose();

    const files = await readdir(r.checkpoint!);
    expect(files).toEqual(expect.arrayContaining([DISCRIMINATOR_FILE, DISCRIMINATOR_OPTIMIZER_FILE]));
    const lines = (await readFile(join(out, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(Object.keys(lines[0].loss)).toEqual(
      expect.arrayContaining(['reconstruction', 'perceptual', 'generator']),
    );
    expect(lines[0].weights.generator).toBe(0.5);
    expect(Number.isFinite(lines[1].discriminator.total)).toBe(true);
  });

  it('weights the generator term adaptively (VQGAN) when asked, logging the weight used', async () => {
    const out = await tempDir();
    const cfg = { ...stage2, loss: { stage2: { ...stage2.loss.stage2, ganWeightMode: 'adaptive' } } };
    await train(microConfig(cfg), { out, init: stage1 });
    const lines = (await readFile(join(out, METRICS_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const line of lines) {
      expect(Number.isFinite(line.weights.generator)).toBe(true);
      expect(line.weights.generator).toBeGreaterThan(0);
      expect(line.weights.generator).not.toBe(0.5); // the factor alone would mean the norms were ignored
    }
  });

  it('resumes exactly, discriminator and its optimizer included', async () => {
    const straight = await tempDir();
    await train(microConfig({ ...stage2, steps: 3 }), { out: straight, init: stage1 });
    const parted = await tempDir();
    await train(microConfig({ ...stage2, steps: 2, schedule: { totalSteps: 3 } }), {
      out: parted,
      init: stage1,
    });
    const r = await train(microConfig({ ...stage2, steps: 3 }), { out: parted, resume: parted });
    expect(r.startStep).toBe(2);
    for (const f of [
      'model.safetensors',
      DISCRIMINATOR_FILE,
      DISCRIMINATOR_OPTIMIZER_FILE,
      'optimizer.safetensors',
    ]) {
      const x = await readFile(join(straight, 'step-000003', f));
      const y = await readFile(join(parted, 'step-000003', f));
      expect(x.equals(y), f).toBe(true);
    }
  });

  it('adds the perceptual term from the frozen feature network', async () => {
    const out = await tempDir();
    const r = await train(
      microConfig({
        ...stage2,
        steps: 1,
        data: { batchSize: 2 },
        loss: { stage2: { perceptualWeight: 0.1, ganWeight: 0 } },
      }),
      { out, init: stage1 },
    );
    expect(r.last!.loss.perceptual).toBeGreaterThan(0);
    expect(r.last!.weights.perceptual).toBe(0.1);
  });
});

describe('SubsetPerceptual', () => {
  it('scores only the first N image pairs', async () => {
    // Identity "network": the distance is the unit-normalised per-pixel channel difference.
    const inner = new PerceptualLoss({ layers: (x) => [x] });
    const x = tf.randomUniform([5, 4, 4, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.randomUniform([5, 4, 4, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const head = (t: tf.Tensor4D) => tf.slice(t, [0, 0, 0, 0], [2, -1, -1, -1]) as tf.Tensor4D;
    const got = new SubsetPerceptual(inner, 2).compute(x, y);
    const want = inner.compute(head(x), head(y));
    const all = new SubsetPerceptual(inner, 8).compute(x, y);
    const full = inner.compute(x, y);
    expect((await got.data())[0]).toBe((await want.data())[0]);
    expect((await all.data())[0]).toBe((await full.data())[0]);
    expect((await got.data())[0]).not.toBe((await full.data())[0]);
    tf.dispose([x, y, got, want, all, full]);
  });
});
