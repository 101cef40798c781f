import { selectBackend } from '@qlip/core';
import { promptIds, randomImages, tinyConfig } from '@qlip/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { QLIPModel } from '../src/index.js';

/** Training goes through the same pure forward functions: every parameter must receive a gradient. */
describe.each(['wasm', 'cpu'])('gradients on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it('reconstruction + contrastive logits reach every parameter (BSQ straight-through included)', () => {
    const model = QLIPModel.create(tinyConfig({ layers: 2 }), 4);
    const x = randomImages(2, 16, 1);
    const ids = promptIds();
    const { value, grads } = tf.variableGrads(() =>
      tf.add(tf.mean(tf.square(tf.sub(model.reconstruct(x), x))), tf.mean(model.logits(x, ids))),
    );
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const [name, v] of model.params) {
      const g = grads[v.name];
      expect(g, `no gradient for ${name}`).toBeDefined();
      const d = g!.dataSync();
      expect(d.every(Number.isFinite), name).toBe(true);
      // Token embeddings only get gradient rows for the ids used; everything else must be nonzero somewhere.
      expect(
        d.some((e) => e !== 0),
        `zero gradient for ${name}`,
      ).toBe(true);
    }
    model.dispose();
  });

  it('analytic gradients match central differences (decoder, post-quant, text weights, logit_scale)', () => {
    const model = QLIPModel.create(tinyConfig({ eva: false }), 8);
    const x = randomImages(1, 16, 2);
    const ids = promptIds();
    // Scaled so that one weight moves the loss measurably in float32.
    const recon = () => tf.mul(tf.sum(tf.square(model.reconstruct(x))), 1000) as tf.Scalar;
    const contrastive = () => tf.mul(tf.sum(model.logits(x, ids)), 100) as tf.Scalar;
    // The step h: float32 rounds the contrastive loss (~3e3) to ~2.4e-4, which is +-1.2 % of this text
    // weight's central difference at h = 1e-2 (it passed or failed by 1 ulp of the loss); at 5e-2 the rounding
    // is 0.25 % and the truncation error is still far below the tolerance.
    for (const [name, index, loss, h] of [
      ['vision_decoder.conv_out.weight', 5, recon, 1e-2],
      ['vision_decoder.encoder.layers.0.mlp.fc1.bias', 3, recon, 1e-2],
      ['vision_model.quant_embed_post.c_fc.weight', 2, recon, 1e-2],
      ['text_model.encoder.layers.0.self_attn.q_proj.weight', 17, contrastive, 5e-2],
      ['logit_scale', 0, contrastive, 1e-2],
    ] as const) {
      const { grads } = tf.variableGrads(loss);
      const v = model.params.get(name)!;
      const orig = v.dataSync().slice();
      const at = (delta: number) => {
        const w = orig.slice();
        w[index] = orig[index]! + delta;
        v.assign(tf.tensor(w, v.shape));
        return tf.tidy(() => loss().dataSync()[0]!);
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      v.assign(tf.tensor(orig, v.shape));
      const analytic = grads[v.name]!.dataSync()[index]!;
      expect(Math.abs(numeric), `${name}: the probe must be sensitive`).toBeGreaterThan(1e-2);
      for (const g of Object.values(grads)) g.dispose();
      expect(
        Math.abs(analytic - numeric),
        `${name}[${index}]: analytic ${analytic} vs numeric ${numeric}`,
      ).toBeLessThan(1e-3 + 1e-2 * Math.abs(numeric));
    }
    model.dispose();
  });
});
