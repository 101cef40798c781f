import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decoder, quantEmbed, quantEmbedPost, quantize, visionEncoder } from '../src/index.js';
import { decoderConfig, maxDiff, randomParams, randomPixels, visionConfig } from './helpers.js';

/** Swap patch cells (0,0) <-> (1,2) of a 4x4 grid of p x p patches: token 0 <-> token 6. */
function swapPatches(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const d = x.arraySync();
  for (const img of d)
    for (const ch of img)
      for (let y = 0; y < p; y++)
        for (let xx = 0; xx < p; xx++) {
          const a = ch[y]![xx]!;
          ch[y]![xx] = ch[p + y]![2 * p + xx]!;
          ch[p + y]![2 * p + xx] = a;
        }
  return tf.tensor4d(d);
}

function swapTokens(t: tf.Tensor3D, i: number, j: number): tf.Tensor3D {
  const d = t.arraySync();
  for (const row of d) [row[i], row[j]] = [row[j]!, row[i]!];
  return tf.tensor3d(d);
}

describe.each(['cpu', 'wasm'])('vision encoder and decoder on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it.each([
    { name: 'EVA (swiglu, subln, rope), patch 4', over: {} },
    {
      name: 'plain GELU MLP, no subln, no rope, patch 8',
      over: { swiglu: false, subln: false, rope: false, image_size: 32, patch_size: 8 },
    },
    {
      name: 'quick_gelu, q/k/v without bias, patch 16',
      over: {
        swiglu: false,
        hidden_act: 'quick_gelu',
        q_bias: false,
        k_bias: false,
        v_bias: false,
        image_size: 32,
        patch_size: 16,
      },
    },
  ])('shapes: $name', ({ over }) => {
    const vc = visionConfig(over);
    const params = randomParams(vc, undefined, 1);
    const g = vc.image_size / vc.patch_size;
    const out = visionEncoder(params, vc, randomPixels([2, 3, vc.image_size, vc.image_size], 2), {
      outputHiddenStates: true,
    });
    expect(out.hiddenStates!.length).toBe(3);
    expect(out.lastHiddenState.shape).toEqual([2, g * g + 1, 32]);
    expect(out.patchTokens.shape).toEqual([2, g * g, 32]);
    expect(out.pooled.shape).toEqual([2, 32]);
    const z = quantEmbed(params, vc, out.patchTokens);
    expect(z.shape).toEqual([2, g * g, 6]);
    const norms = tf.norm(z, 'euclidean', -1).dataSync();
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    const zq = quantize(vc, z);
    const scale = 1 / Math.fround(Math.sqrt(6)); // the reference divides by sqrt(L) in float32
    const zd = z.dataSync();
    const zqd = zq.dataSync();
    for (let i = 0; i < zqd.length; i++) expect(zqd[i]).toBe(Math.fround(zd[i]! > 0 ? scale : -scale));
    expect(quantEmbedPost(params, vc, zq).shape).toEqual([2, g * g, 24]);
  });

  it('without rope, the encoder is equivariant to swapping patches (positions only via the embedding table)', async () => {
    const vc = visionConfig({ rope: false });
    const params = randomParams(vc, undefined, 3);
    // Zero the learned positions so nothing tells the patches apart.
    params.get('vision_model.embeddings.position_embedding.weight')!.assign(tf.zeros([17, 32]));
    const x = randomPixels([1, 3, 16, 16], 4);
    const a = visionEncoder(params, vc, x);
    const b = visionEncoder(params, vc, swapPatches(x, 4));
    expect(maxDiff(await a.pooled.data(), await b.pooled.data())).toBeLessThan(1e-5);
    expect(maxDiff(await swapTokens(a.patchTokens, 0, 6).data(), await b.patchTokens.data())).toBeLessThan(
      1e-5,
    );
    // With rope the same swap changes the result: rope really injects positions.
    const vr = visionConfig({ rope: true });
    const pr = randomParams(vr, undefined, 3);
    pr.get('vision_model.embeddings.position_embedding.weight')!.assign(tf.zeros([17, 32]));
    const c = visionEncoder(pr, vr, x);
    const e = visionEncoder(pr, vr, swapPatches(x, 4));
    expect(maxDiff(await swapTokens(c.patchTokens, 0, 6).data(), await e.patchTokens.data())).toBeGreaterThan(
      1e-3,
    );
  });

  it('hidden states start with the embeddings and end with the last layer output', async () => {
    const vc = visionConfig();
    const params = randomParams(vc, undefined, 5);
    const out = visionEncoder(params, vc, randomPixels([1, 3, 16, 16], 6), { outputHiddenStates: true });
    expect(maxDiff(await out.hiddenStates![2]!.data(), await out.lastHiddenState.data())).toBe(0);
    expect(maxDiff(await out.hiddenStates![0]!.data(), await out.hiddenStates![1]!.data())).toBeGreaterThan(
      1e-3,
    );
  });

  it('decoder: [B, N, D] -> [B, 3, H, W]; without rope and positions it is equivariant to token swaps', async () => {
    const dc = decoderConfig({ rope: false });
    const params = randomParams(undefined, dc, 7);
    params.get('vision_decoder.position_embeddings')!.assign(tf.zeros([1, 16, 24]));
    const lat = tf.tensor3d(randomPixels([1, 1, 16, 24], 8).dataSync(), [1, 16, 24]);
    const img = decoder(params, dc, lat);
    expect(img.shape).toEqual([1, 3, 16, 16]);
    const swapped = decoder(params, dc, swapTokens(lat, 0, 6));
    expect(maxDiff(await swapPatches(img, 4).data(), await swapped.data())).toBeLessThan(1e-5);
    expect(() => decoder(params, dc, tf.zeros([1, 15, 24]))).toThrow(
      /latents must be \[B, 16, 24\] \(got \[1,15,24\]\)/,
    );
  });

  it('rejects pixels of the wrong size', () => {
    const vc = visionConfig();
    const params = randomParams(vc, undefined, 1);
    expect(() => visionEncoder(params, vc, tf.zeros([1, 3, 32, 32]))).toThrow(
      /pixels must be \[B, 3, 16, 16\] \(got \[1,3,32,32\]\)/,
    );
  });
});
