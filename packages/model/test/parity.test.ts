import { selectBackend } from '@qlip/core';
import { decoder, quantEmbed, quantEmbedPost, quantize, visionEncoder } from '@qlip/encoder';
import { ropeTables } from '@qlip/nn';
import { ATOL, maxAbsDiff, REFERENCE_FIXTURE, type Ref, readReference } from '@qlip/test-utils';
import { textTransformer } from '@qlip/text-encoder';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QLIPModel } from '../src/index.js';

/**
 * Golden parity with NVIDIA's official QLIP code (fixtures/qlip-reference/qlip-tiny-eva): every tensor of
 * expected.safetensors within the README's per-tensor tolerance; integer tensors exactly.
 */
describe.each(['wasm', 'cpu'])('parity with the official QLIP code on %s', (backend) => {
  let model: QLIPModel;
  let expected: Map<string, Ref>;
  let inputs: Map<string, Ref>;
  let pixels: tf.Tensor4D;
  let ids: Int32Array;
  const diffs: Record<string, number> = {};

  beforeAll(async () => {
    await selectBackend(backend);
    model = await QLIPModel.load(REFERENCE_FIXTURE);
    expected = await readReference('expected.safetensors');
    inputs = await readReference('inputs.safetensors');
    pixels = tf.tensor4d(inputs.get('pixel_values')!.f32, [3, 3, 32, 32]);
    ids = inputs.get('input_ids')!.i32;
  });

  afterAll(() => {
    console.log(
      `max |port - reference| on ${backend}:\n${Object.entries(diffs)
        .map(([k, v]) => `  ${k.padEnd(30)} ${v.toExponential(2)}`)
        .join('\n')}`,
    );
    model.dispose();
    pixels.dispose();
  });

  async function check(name: string, t: tf.Tensor | tf.Tensor[], atol = ATOL[name]!): Promise<void> {
    const ref = expected.get(name)!;
    const port = Array.isArray(t) ? tf.stack(t) : t;
    expect(port.shape).toEqual(ref.shape);
    const d = maxAbsDiff(await port.data(), ref.f32);
    diffs[name] = d;
    expect(d, `${name}: max abs diff ${d} > atol ${atol}`).toBeLessThanOrEqual(atol);
  }

  it('vision encoder: hidden states, pre-quant tokens, pooled CLS, image embeddings', async () => {
    const v = model.config.vision_config;
    const out = visionEncoder(model.params, v, pixels, { outputHiddenStates: true });
    await check('vision_hidden_states', out.hiddenStates!);
    await check('vision_last_hidden_pre_quant', out.patchTokens);
    await check('vision_pooled', out.pooled);
    await check('quant_input', quantEmbed(model.params, v, out.patchTokens));
    await check('image_embeds', model.imageEmbeddings(pixels));
  });

  it('BSQ: quantized codes from the stored quant_input; indices and group indices exact', async () => {
    const v = model.config.vision_config;
    const z = tf.tensor3d(expected.get('quant_input')!.f32, [3, 16, 8]);
    await check('quantized', quantize(v, z));
    const { indices, grid, batch } = await model.encodeToIndices(pixels);
    expect(grid).toEqual([4, 4]);
    expect(batch).toBe(3);
    expect([...indices]).toEqual([...expected.get('indices')!.i32]);
    const g = await model.encodeToGroupIndices(pixels);
    expect(g.groups).toBe(2);
    expect([...g.indices]).toEqual([...expected.get('group_indices')!.i32]);
    // End to end, the port's own quantized codes equal the reference's.
    const f = model.encodeFeatures(pixels);
    diffs.quantized_end_to_end = maxAbsDiff(await f.quantized.data(), expected.get('quantized')!.f32);
    expect(diffs.quantized_end_to_end).toBeLessThanOrEqual(ATOL.quantized!);
  });

  it('decoder: latents from stored codes, pixels from latents, from indices, and end to end', async () => {
    const v = model.config.vision_config;
    const zq = tf.tensor3d(expected.get('quantized')!.f32, [3, 16, 8]);
    await check('decoder_latents', quantEmbedPost(model.params, v, zq));
    const latents = tf.tensor3d(expected.get('decoder_latents')!.f32, [3, 16, 64]);
    await check('decoded_pixels', decoder(model.params, model.config.decoder_config, latents));
    await check('decoded_from_indices', model.decodeIndices(Uint32Array.from(expected.get('indices')!.i32)));
    const rec = model.reconstruct(pixels);
    diffs.decoded_pixels_end_to_end = maxAbsDiff(await rec.data(), expected.get('decoded_pixels')!.f32);
    expect(diffs.decoded_pixels_end_to_end).toBeLessThanOrEqual(ATOL.decoded_pixels!);
  });

  it('text tower: hidden states, final LN, pooled at the first eos, projections, logits', async () => {
    const out = textTransformer(model.params, model.config.text_config, ids, [5, 77], {
      outputHiddenStates: true,
    });
    await check('text_hidden_states', out.hiddenStates!);
    await check('text_last_hidden_state', out.lastHiddenState);
    await check('text_pooled', out.pooled);
    await check('text_embeds', model.textEmbeddings(ids));
    await check('logits_per_image', model.logits(pixels, ids));
  });

  it('rope tables equal the reference buffers of encoder and decoder', async () => {
    const buffers = await readReference('buffers.safetensors');
    const t = ropeTables({ grid: 4, headDim: 16 });
    for (const [name, ref] of buffers) {
      const mine = name.endsWith('freqs_cos') ? t.cos : t.sin;
      expect(ref.shape).toEqual([16, 16]);
      const d = maxAbsDiff(mine, ref.f32);
      diffs.rope_tables = Math.max(diffs.rope_tables ?? 0, d);
      expect(d, name).toBeLessThanOrEqual(1e-6);
    }
  });
});
