import { selectBackend } from '@qlip/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCaptioning } from '../src/evaluate.js';
import { generate, loadUnified, type UnifiedPipeline } from '../src/infer.js';

let p: UnifiedPipeline;
beforeAll(async () => {
  await selectBackend('wasm');
  p = await loadUnified(); // the shipped um-tiny-mnist with its tokenizer
});

describe('the shipped um-tiny-mnist', () => {
  it('loads with the MNIST vocabulary and the tiny tokenizer geometry', () => {
    expect(p.model.config).toMatchObject({
      image_bits: 16,
      image_grid: [4, 4],
      image_head: { kind: 'groups', group_size: 8 },
    });
    expect(p.vocab.unknownCount('a photo of the number 7')).toBe(0);
    expect(p.model.config.tokenizer.path).toBe('pretrained:qlip-tiny-mnist');
  });

  it('is trained: captions 60 test digits with the right class word, and seeded generation repeats', async () => {
    const r = await evaluateCaptioning(p, { data: 'mnist', limit: 60, batchSize: 60 });
    expect(r.exactMatch).toBeGreaterThan(0.8); // chance is 0.1
    expect(r.examples[0]!.caption).toMatch(/^a photo of the number \w+\.$/);
    const o = { n: 2, seed: 3, guidance: 3, temperature: 1, topK: 0 };
    const a = await generate(p, 'a photo of the number 7', o);
    const b = await generate(p, 'a photo of the number 7', o);
    expect(Array.from(b.codes)).toEqual(Array.from(a.codes));
    expect(a.images[0]!.width).toBe(32);
  });
});
