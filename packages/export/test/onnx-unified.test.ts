import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, selectBackend } from '@qlip/core';
import { captionPrefixes, greedyText, sampleImages, tfjsDecoder, UnifiedModel } from '@qlip/unified';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportUnifiedOnnx, OnnxUnified, UNIFIED_ONNX_GRAPHS, verifyUnifiedOnnx } from '../src/index.js';

let model: UnifiedModel;
beforeAll(async () => {
  await selectBackend('wasm');
  model = UnifiedModel.create(
    {
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      intermediate_size: 64,
      max_position_embeddings: 32,
      image_bits: 16,
      image_grid: [4, 4],
      image_head: { kind: 'groups', group_size: 8 },
      clip_ids: [320, 1125, 539, 518, 1863, 7706],
      tokenizer: { path: 'pretrained:qlip-tiny-mnist' },
    },
    7,
  );
});

describe('unified model ONNX export', () => {
  it('writes the four step graphs and gives identical tokens in ONNX Runtime (generation and captions)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'um-onnx-'));
    const r = await exportUnifiedOnnx(model, dir);
    for (const f of Object.values(UNIFIED_ONNX_GRAPHS)) expect(existsSync(join(dir, f))).toBe(true);
    expect(r.manifest).toMatchObject({ format: 'qlip-unified-onnx', layers: 2, heads: 2, headDim: 16 });
    const v = await verifyUnifiedOnnx(model, dir, 3);
    expect(v.problems).toEqual([]);
    expect(v.passed).toBe(true);

    // Unguided sampling with top-k and another prompt length, step by step through the KV cache.
    const onnx = await OnnxUnified.load(dir);
    const o = { guidance: 1, temperature: 0.7, topK: 5 };
    const a = await sampleImages(tfjsDecoder(model), [6, 7, 8, 9, 10, 11, 6, 7], 3, o, new Rng(9));
    const b = await sampleImages(onnx.decoder(), [6, 7, 8, 9, 10, 11, 6, 7], 3, o, new Rng(9));
    expect(Array.from(b)).toEqual(Array.from(a));
    const ca = await greedyText(tfjsDecoder(model), captionPrefixes(a, 16), 8);
    const cb = await greedyText(onnx.decoder(), captionPrefixes(a, 16), 8);
    expect(cb).toEqual(ca);
    await onnx.release();
  });
});
