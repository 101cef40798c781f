import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, selectBackend } from '@qlip/core';
import { createDataset, MNIST_CLASS_NAMES } from '@qlip/data';
import { parseQLIPConfig, QLIPModel } from '@qlip/model';
import { ClipBpe } from '@qlip/text-encoder';
import { presetLayer, resolveTrainConfig } from '@qlip/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../src/index.js';

let model: QLIPModel;

beforeAll(async () => {
  await selectBackend('wasm');
  model = await QLIPModel.load(defaultModelDir());
});

describe('the shipped qlip-tiny-mnist checkpoint', () => {
  it('has the geometry of the preset it was trained with (tiny-mnist)', () => {
    const preset = parseQLIPConfig(resolveTrainConfig([presetLayer('tiny-mnist')]).model);
    const { vision_config, decoder_config, text_config, projection_dim } = model.config;
    expect({ vision_config, decoder_config, text_config, projection_dim }).toEqual({
      vision_config: preset.vision_config,
      decoder_config: preset.decoder_config,
      text_config: preset.text_config,
      projection_dim: preset.projection_dim,
    });
    const v = preset.vision_config;
    expect(model.bits).toBe(v.quantizer_cfg.embed_dim);
    const side = v.image_size / v.patch_size;
    expect(model.grid).toEqual([side, side]);
  });

  it('stores every tensor as float16, as its config.json and model card say', async () => {
    const dir = defaultModelDir();
    expect(model.config.torch_dtype).toBe('float16');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/float16/);
    const r = await openCheckpoint(dir);
    try {
      const dtypes = new Set([...r.entries.values()].map((e) => e.dtype));
      expect([...dtypes]).toEqual(['F16']);
    } finally {
      await r.close();
    }
  });

  it('is trained: zero-shot on 200 MNIST test digits is far above chance (10%)', async () => {
    const ctx = model.config.text_config.max_position_embeddings;
    const ids = ClipBpe.default().tokenize(
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
