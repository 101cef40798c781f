import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, selectBackend } from '@qlip/core';
import { maxAbsDiff, promptIds, randomImages, type TinyOptions, tinyConfig } from '@qlip/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { QLIPModel, qlipSpecs } from '../src/index.js';

const tmp = () => mkdtemp(join(tmpdir(), 'qlip-model-'));

/** Host sign packing from the definition, independent of @qlip/bsq. */
function packBits(z: Float32Array, bits: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < z.length; i += bits) {
    let v = 0;
    for (let j = 0; j < bits; j++) v += z[i + j]! > 0 ? 2 ** (bits - 1 - j) : 0;
    out.push(v);
  }
  return out;
}

describe.each(['wasm', 'cpu'])('QLIPModel on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it.each<[string, TinyOptions]>([
    ['EVA blocks, patch 4, 8 bits', {}],
    ['plain GELU MLP, no subln, no rope, patch 4, 18 bits', { eva: false, bits: 18, groupSize: 9 }],
    [
      'quick_gelu MLP, patch 16, 28 bits',
      { eva: false, act: 'quick_gelu', image: 32, patch: 16, bits: 28, groupSize: 7 },
    ],
    ['EVA, patch 8, 32 bits (full uint32 range)', { image: 32, patch: 8, bits: 32, groupSize: 8 }],
    ['identity quant_embed (L = hidden = 16), projection biases', { embed: 'identity', projBias: true }],
  ])('%s: shapes, index identities, save -> load -> identical outputs', async (_name, o) => {
    const model = QLIPModel.create(tinyConfig(o), 3);
    const size = model.imageSize;
    const n = model.tokensPerImage;
    const L = model.bits;
    const x = randomImages(2, size, 4);
    const { indices, grid, batch } = await model.encodeToIndices(x);
    expect(grid).toEqual([size / model.patchSize, size / model.patchSize]);
    expect(batch).toBe(2);
    expect(indices.length).toBe(2 * n);
    const f = model.encodeFeatures(x);
    expect(f.preQuant.shape).toEqual([2, n, L]);
    expect(f.quantized.shape).toEqual([2, n, L]);
    expect(f.postQuant.shape).toEqual([2, n, model.config.decoder_config.hidden_size]);
    expect([...indices]).toEqual(packBits((await f.preQuant.data()) as Float32Array, L));
    // Group indices concatenate to the flat index, group 0 most significant.
    const g = await model.encodeToGroupIndices(x);
    const gs = model.groupSize;
    for (let t = 0; t < 2 * n; t++) {
      let v = 0;
      for (let k = 0; k < g.groups; k++) v = v * 2 ** gs + g.indices[t * g.groups + k]!;
      expect(v).toBe(indices[t]);
    }
    // decodeIndices(encodeToIndices(x)) == reconstruct(x), bit for bit.
    const rec = model.reconstruct(x);
    expect(rec.shape).toEqual([2, 3, size, size]);
    const fromIdx = model.decodeIndices(indices);
    expect(maxAbsDiff(await fromIdx.data(), await rec.data())).toBe(0);
    const emb = model.imageEmbeddings(x);
    expect(emb.shape).toEqual([2, 8]);
    const ids = promptIds();
    const logits = model.logits(x, ids);
    expect(logits.shape).toEqual([2, 2]);

    const dir = await tmp();
    await model.save(dir);
    const ckpt = await openCheckpoint(dir);
    expect([...ckpt.entries.keys()].sort()).toEqual(
      qlipSpecs(model.config)
        .map((s) => s.name)
        .sort(),
    );
    await ckpt.close();
    const loaded = await QLIPModel.load(dir);
    expect(loaded.config).toEqual(model.config);
    expect([...(await loaded.encodeToIndices(x)).indices]).toEqual([...indices]);
    expect(maxAbsDiff(await loaded.reconstruct(x).data(), await rec.data())).toBe(0);
    expect(maxAbsDiff(await loaded.logits(x, ids).data(), await logits.data())).toBe(0);
    for (const [name, v] of model.params) {
      expect(maxAbsDiff(await loaded.params.get(name)!.data(), await v.data()), name).toBe(0);
    }
    loaded.dispose();
    model.dispose();
  });

  it('32-bit indices use the whole uint32 range and invert exactly', async () => {
    const model = QLIPModel.create(tinyConfig({ image: 32, patch: 8, bits: 32, groupSize: 8 }), 5);
    const x = randomImages(4, 32, 6);
    const { indices } = await model.encodeToIndices(x);
    expect(Math.max(...indices)).toBeGreaterThanOrEqual(2 ** 31); // a token with channel 0 positive
    const codes = model.encodeFeatures(x).quantized;
    const back = tf.tidy(() => model.decodeIndices(indices));
    expect(maxAbsDiff(await back.data(), await model.decodeCodes(codes).data())).toBe(0);
    model.dispose();
  });

  it('more than 32 bits: flat indices refuse, group indices work', async () => {
    const model = QLIPModel.create(tinyConfig({ bits: 36, groupSize: 9 }), 1);
    const x = randomImages(1, 16, 2);
    await expect(model.encodeToIndices(x)).rejects.toThrow(
      /36 bits per token do not fit a uint32 index; use encodeToGroupIndices/,
    );
    const g = await model.encodeToGroupIndices(x);
    expect(g.groups).toBe(4);
    expect(g.indices.length).toBe(16 * 4);
    expect(Math.max(...g.indices)).toBeLessThan(512);
    model.dispose();
  });

  it('create is reproducible per seed; normalised embeddings have unit norm; logits = exp(s) * cosine', async () => {
    const a = QLIPModel.create(tinyConfig(), 11);
    const b = QLIPModel.create(tinyConfig(), 11);
    const c = QLIPModel.create(tinyConfig(), 12);
    const x = randomImages(2, 16, 1);
    const ea = await a.imageEmbeddings(x).data();
    expect(maxAbsDiff(ea, await b.imageEmbeddings(x).data())).toBe(0);
    expect(maxAbsDiff(ea, await c.imageEmbeddings(x).data())).toBeGreaterThan(1e-4);
    const ids = promptIds();
    const ni = await a.imageEmbeddings(x, { normalize: true }).array();
    const nt = await a.textEmbeddings(ids, { normalize: true }).array();
    for (const r of [...ni, ...nt]) expect(Math.hypot(...r)).toBeCloseTo(1, 5);
    const logits = await a.logits(x, ids).array();
    const s = Math.exp(2.6592); // logit_scale_init_value
    for (let i = 0; i < 2; i++)
      for (let p = 0; p < 2; p++) {
        const cos = ni[i]!.reduce((acc, v, k) => acc + v * nt[p]![k]!, 0);
        expect(logits[i]![p]).toBeCloseTo(s * cos, 4);
      }
    for (const m of [a, b, c]) m.dispose();
  });

  it('fromParams wraps trainer parameters after checking names and storage shapes', async () => {
    const a = QLIPModel.create(tinyConfig(), 21);
    const b = QLIPModel.fromParams(tinyConfig(), a.params);
    const x = randomImages(1, 16, 2);
    expect([...(await b.encodeToIndices(x)).indices]).toEqual([...(await a.encodeToIndices(x)).indices]);
    const other = QLIPModel.create(tinyConfig({ bits: 12, groupSize: 6 }), 1);
    expect(() => QLIPModel.fromParams(tinyConfig(), other.params)).toThrow(
      /parameter "vision_model\.quant_embed\.c_proj\.weight" has shape \[16,12\], expected \[16,8\]/,
    );
    const partial = new Map(a.params);
    partial.delete('logit_scale');
    partial.set('extra', a.params.get('logit_scale')!);
    expect(() => QLIPModel.fromParams(tinyConfig(), partial)).toThrow(
      /missing parameter "logit_scale"[\s\S]*unexpected parameter "extra"/,
    );
    a.dispose();
    other.dispose();
  });

  it('leaks no tensors: each call leaves only the tensors it returns', async () => {
    const model = QLIPModel.create(tinyConfig(), 2);
    const x = randomImages(2, 16, 3);
    const ids = promptIds();
    const before = tf.memory().numTensors;
    const { indices } = await model.encodeToIndices(x);
    await model.encodeToGroupIndices(x);
    expect(tf.memory().numTensors).toBe(before);
    const outs = [
      model.decodeIndices(indices),
      model.reconstruct(x),
      model.imageEmbeddings(x, { normalize: true }),
      model.textEmbeddings(ids),
      model.logits(x, ids),
    ];
    const f = model.encodeFeatures(x);
    expect(tf.memory().numTensors).toBe(before + outs.length + 3);
    for (const t of [...outs, f.preQuant, f.quantized, f.postQuant]) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('rejects bad inputs with what was expected', () => {
    const model = QLIPModel.create(tinyConfig(), 1);
    expect(() => model.decodeIndices(new Uint32Array(15))).toThrow(
      /got 15 indices, expected a multiple of 16 tokens per image/,
    );
    expect(() => model.decodeIndices(Uint32Array.from({ length: 16 }, () => 256))).toThrow(
      /index 256 .* outside \[0, 2\^8\)/,
    );
    expect(() => model.decodeCodes(tf.zeros([1, 16, 7]) as tf.Tensor3D)).toThrow(
      /codes must be \[B, 16, 8\] \(got \[1,16,7\]\)/,
    );
    expect(() => model.reconstruct(tf.zeros([1, 3, 32, 32]) as tf.Tensor4D)).toThrow(
      /pixels must be \[B, 3, 16, 16\]/,
    );
    expect(() => model.textEmbeddings(new Int32Array(12))).toThrow(
      /12 ids are not a whole number of prompts of 8 tokens/,
    );
    model.dispose();
  });

  it('a model without a quantizer encodes features but refuses indices', async () => {
    const cfg = tinyConfig();
    (cfg.vision_config as Record<string, unknown>).quantizer = 'none';
    const model = QLIPModel.create(cfg, 1);
    const x = randomImages(1, 16, 2);
    const f = model.encodeFeatures(x);
    expect(maxAbsDiff(await f.quantized.data(), await f.preQuant.data())).toBe(0);
    await expect(model.encodeToIndices(x)).rejects.toThrow(/vision_config\.quantizer is "none", not "bsq"/);
    model.dispose();
  });
});
