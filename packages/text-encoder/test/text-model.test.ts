import { Rng, selectBackend } from '@qlip/core';
import { initParams } from '@qlip/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import { poolPositions, type TextConfig, textSpecs, textTransformer } from '../src/model/text-model.js';

const cfg: TextConfig = {
  vocab_size: 50,
  max_position_embeddings: 8,
  hidden_size: 16,
  intermediate_size: 32,
  num_attention_heads: 2,
  num_hidden_layers: 2,
  layer_norm_eps: 1e-5,
  hidden_act: 'quick_gelu',
  q_bias: true,
  k_bias: true,
  v_bias: true,
  subln: false,
  swiglu: false,
  eos_token_id: 49,
};

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('poolPositions', () => {
  it('takes the FIRST eos, 0 when absent, and the legacy argmax rule when eos_token_id is 2', () => {
    const ids = Int32Array.from([1, 5, 49, 49, /**/ 1, 2, 3, 4, /**/ 49, 0, 0, 0]);
    expect([...poolPositions(ids, 3, 4, 49)]).toEqual([2, 0, 0]);
    expect([...poolPositions(Int32Array.from([1, 7, 3, 7]), 1, 4, 2)]).toEqual([1]);
  });
});

describe.each(['cpu', 'wasm'])('text transformer on %s', (backend) => {
  // Parameters are made after the backend is selected: at collection time the highest-priority backend
  // (wasm) is registered but not yet initialised.
  let params: ReturnType<typeof initParams>;
  beforeAll(async () => {
    await selectBackend(backend);
    params = initParams(
      textSpecs(cfg).map((s) => ({
        ...s,
        init: { kind: 'normal' as const, std: s.shape.length === 1 ? 0.2 : 0.3 },
      })),
      new Rng(9),
    );
  });

  it('official parameter names and shapes', () => {
    const names = textSpecs(cfg).map((s) => s.name);
    expect(names.slice(0, 4)).toEqual([
      'text_model.embeddings.token_embedding.weight',
      'text_model.embeddings.position_embedding.weight',
      'text_model.encoder.layers.0.self_attn.k_proj.weight',
      'text_model.encoder.layers.0.self_attn.k_proj.bias',
    ]);
    expect(names.at(-1)).toBe('text_model.final_layer_norm.bias');
    expect(names).toContain('text_model.encoder.layers.1.mlp.fc2.weight');
    expect(params.get('text_model.encoder.layers.0.mlp.fc1.weight')!.shape).toEqual([16, 32]); // stored [in, out]
  });

  it('is causal: a later token never changes earlier positions; pooled = last hidden at the first eos', async () => {
    const a = Int32Array.from([3, 7, 11, 49, 0, 0, /**/ 3, 7, 12, 13, 49, 49]);
    const b = Int32Array.from([3, 7, 11, 49, 5, 6, /**/ 3, 7, 30, 13, 49, 49]);
    const oa = textTransformer(params, cfg, a, [2, 6], { outputHiddenStates: true });
    const ob = textTransformer(params, cfg, b, [2, 6]);
    expect(oa.hiddenStates!.length).toBe(3);
    expect(oa.lastHiddenState.shape).toEqual([2, 6, 16]);
    const la = await oa.lastHiddenState.array();
    const lb = await ob.lastHiddenState.array();
    // prompt 0 differs from position 4 on: positions 0..3 identical
    expect(maxDiff(la[0]!.slice(0, 4).flat(), lb[0]!.slice(0, 4).flat())).toBeLessThan(1e-6);
    expect(maxDiff(la[0]![4]!, lb[0]![4]!)).toBeGreaterThan(1e-3);
    // prompt 1 differs from position 2 on
    expect(maxDiff(la[1]!.slice(0, 2).flat(), lb[1]!.slice(0, 2).flat())).toBeLessThan(1e-6);
    expect(maxDiff(la[1]![2]!, lb[1]![2]!)).toBeGreaterThan(1e-3);
    const pooled = await oa.pooled.array();
    expect(pooled[0]).toEqual(la[0]![3]);
    expect(pooled[1]).toEqual(la[1]![4]); // first of two eos tokens
    // Padding after the eos does not change the pooled output.
    expect(maxDiff(pooled[0]!, (await ob.pooled.array())[0]!)).toBeLessThan(1e-6);
  });

  it('rejects out-of-vocabulary ids and over-long contexts, naming the position', () => {
    expect(() => textTransformer(params, cfg, Int32Array.from([1, 50]), [1, 2])).toThrow(
      /token id 50 at \[0, 1\] is outside \[0, vocab_size=50\)/,
    );
    expect(() => textTransformer(params, cfg, new Int32Array(9), [1, 9])).toThrow(
      /context length 9.*max_position_embeddings=8/,
    );
    expect(() => textTransformer(params, cfg, new Int32Array(5), [2, 3])).toThrow(
      /5 ids do not form \[2, 3\]/,
    );
  });
});
