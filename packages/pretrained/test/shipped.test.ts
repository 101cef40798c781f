import { selectBackend } from '@qlip/core';
import { createDataset, MNIST_CLASS_NAMES } from '@qlip/data';
import { QLIPModel } from '@qlip/model';
import { ClipTokenizer } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../src/index.js';

let model: QLIPModel;

beforeAll(async () => {
  await selectBackend('wasm');
  model = await QLIPModel.load(defaultModelDir());
});

describe('the shipped qlip-tiny-mnist checkpoint', () => {
  it('loads in the official layout with its documented geometry', () => {
    expect(model.imageSize).toBe(32);
    expect(model.patchSize).toBe(8);
    expect(model.bits).toBe(16);
    expect(model.grid).toEqual([4, 4]);
  });

  it('is trained: zero-shot on 200 MNIST test digits is far above chance (10%)', async () => {
    const ctx = model.config.text_config.max_position_embeddings;
    const ids = ClipTokenizer.default().tokenize(
      MNIST_CLASS_NAMES.map((c) => `a photo of the number ${c}.`),
      ctx,
    );
    const text = model.textEmbeddings(ids, { contextLength: ctx, normalize: true }); // [10, P]
    const ds = await createDataset({
      source: { kind: 'builtin', name: 'mnist', split: 'test' },
      imageSize: 32,
      batchSize: 100,
      shuffle: false,
      epochs: 1,
      augment: false,
    });
    let seen = 0;
    let right = 0;
    for await (const b of ds.batches()) {
      const pred = tf.tidy(() => {
        const img = model.imageEmbeddings(tf.tensor4d(b.images, b.shape), { normalize: true }); // [B, P]
        return tf.argMax(tf.matMul(img, tf.transpose(text)), 1);
      });
      const p = await pred.data();
      pred.dispose();
      for (let i = 0; i < p.length; i++) if (p[i] === b.labels[i]) right++;
      seen += p.length;
      if (seen >= 200) break;
    }
    text.dispose();
    expect(right / seen).toBeGreaterThan(0.5);
  });
});
