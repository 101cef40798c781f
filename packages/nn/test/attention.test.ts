import { Rng, SafetensorsReader, selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AttentionConfig,
  applyRope,
  attention,
  attentionSpecs,
  initParams,
  type Params,
  ropeTables,
  ropeTensors,
} from '../src/index.js';

const FIXTURE = new URL('../../../fixtures/qlip-reference/qlip-tiny-eva/', import.meta.url).pathname;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Float64 host attention, written from the definition (weights in official [out, in] layout). */
function hostAttention(
  x: Float64Array,
  [b, t, d]: number[],
  w: Record<string, Float64Array>,
  heads: number,
  causal: boolean,
  rope?: { cos: Float32Array; sin: Float32Array; shift: number },
): Float64Array {
  const lin = (inp: Float64Array, name: string) => {
    const out = new Float64Array(b * t * d);
    for (let r = 0; r < b * t; r++)
      for (let o = 0; o < d; o++) {
        let s = w[`${name}.bias`]?.[o] ?? 0;
        for (let i = 0; i < d; i++) s += inp[r * d + i]! * w[`${name}.weight`]![o * d + i]!;
        out[r * d + o] = s;
      }
    return out;
  };
  const hd = d / heads;
  const q = lin(x, 'q_proj').map((v) => v * hd ** -0.5);
  const k = lin(x, 'k_proj');
  const v = lin(x, 'v_proj');
  const rot = (arr: Float64Array) => {
    if (!rope) return;
    for (let bi = 0; bi < b; bi++)
      for (let ti = rope.shift; ti < t; ti++)
        for (let h = 0; h < heads; h++) {
          const base = (bi * t + ti) * d + h * hd;
          const tab = (ti - rope.shift) * hd;
          const src = arr.slice(base, base + hd);
          for (let c = 0; c < hd; c++) {
            const partner = c % 2 === 0 ? -src[c + 1]! : src[c - 1]!; // rotate_half on adjacent pairs
            arr[base + c] = src[c]! * rope.cos[tab + c]! + partner * rope.sin[tab + c]!;
          }
        }
  };
  rot(q);
  rot(k);
  const ctx = new Float64Array(b * t * d);
  for (let bi = 0; bi < b; bi++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < t; i++) {
        const s = new Float64Array(t);
        for (let j = 0; j < t; j++) {
          let dot = 0;
          for (let c = 0; c < hd; c++)
            dot += q[(bi * t + i) * d + h * hd + c]! * k[(bi * t + j) * d + h * hd + c]!;
          s[j] = causal && j > i ? -Infinity : dot;
        }
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let c = 0; c < hd; c++) {
          let acc = 0;
          for (let j = 0; j < t; j++) acc += (e[j]! / z) * v[(bi * t + j) * d + h * hd + c]!;
          ctx[(bi * t + i) * d + h * hd + c] = acc;
        }
      }
  return lin(ctx, 'out_proj');
}

async function officialWeights(params: Params, prefix: string, specs: ReturnType<typeof attentionSpecs>) {
  const w: Record<string, Float64Array> = {};
  for (const s of specs) {
    const data = await params.get(s.name)!.data();
    const arr = s.layout === 'linear' ? transposeBack(data as Float32Array, s.shape) : data;
    w[s.name.slice(prefix.length + 1)] = Float64Array.from(arr);
  }
  return w;
}

function transposeBack(data: Float32Array, [out, inF]: number[]): Float32Array {
  const r = new Float32Array(data.length);
  for (let i = 0; i < inF!; i++) for (let o = 0; o < out!; o++) r[o * inF! + i] = data[i * out! + o]!;
  return r;
}

describe('rope tables', () => {
  it('equal the reference buffers (grid 4, head_dim 16, positions arange(G)/G*16)', async () => {
    const r = await SafetensorsReader.open(`${FIXTURE}buffers.safetensors`);
    const cos = (await r.read('vision_model.rope.freqs_cos')).data as Float32Array;
    const sin = (await r.read('vision_decoder.encoder.layers.1.self_attn.rope.freqs_sin'))
      .data as Float32Array;
    await r.close();
    const t = ropeTables({ grid: 4, headDim: 16 });
    expect(maxDiff(t.cos, cos)).toBeLessThanOrEqual(1e-6);
    expect(maxDiff(t.sin, sin)).toBeLessThanOrEqual(1e-6);
    // Row-axis channels of token (1, 0): position 1/4*16 = 4, frequency 1 for channel pair 0.
    expect(t.cos[4 * 16]).toBeCloseTo(Math.cos(4), 6);
    expect(t.cos[4 * 16 + 8]).toBe(1); // column-axis channels of token (1, 0) sit at position 0
  });

  it('rejects a head dimension that is not a multiple of 4', () => {
    expect(() => ropeTables({ grid: 2, headDim: 6 })).toThrow(/divisible by 4 \(got 6\)/);
  });
});

describe.each(['cpu', 'wasm'])('attention on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it('two tokens, one head, identity projections: a hand-checked case', () => {
    const cfg: AttentionConfig = {
      hidden_size: 2,
      num_attention_heads: 1,
      layer_norm_eps: 1e-5,
      q_bias: false,
      k_bias: false,
      v_bias: false,
      subln: false,
    };
    const eye = tf.tensor2d([1, 0, 0, 1], [2, 2]);
    const params: Params = new Map([
      ['a.q_proj.weight', tf.variable(eye)],
      ['a.k_proj.weight', tf.variable(eye)],
      ['a.v_proj.weight', tf.variable(eye)],
      ['a.out_proj.weight', tf.variable(eye)],
      ['a.out_proj.bias', tf.variable(tf.zeros([2]))],
    ]);
    const x = tf.tensor3d([1, 0, 0, 2], [1, 2, 2]);
    // scores = q.k / sqrt(2): token0 [1/sqrt2, 0], token1 [0, 4/sqrt2]
    const s0 = Math.exp(1 / Math.SQRT2) / (Math.exp(1 / Math.SQRT2) + 1);
    const s1 = 1 / (1 + Math.exp(4 / Math.SQRT2));
    const expected = [s0, 2 * (1 - s0), s1, 2 * (1 - s1)];
    expect(maxDiff(attention(params, 'a', cfg, x).dataSync(), expected)).toBeLessThan(1e-6);
    // Causal: token 0 only sees itself.
    const causal = attention(params, 'a', cfg, x, { causal: true }).dataSync();
    expect(maxDiff(causal, [1, 0, s1, 2 * (1 - s1)])).toBeLessThan(1e-6);
  });

  it.each([
    { name: 'biases + subln off, causal', causal: true, rope: false, shift: 0 },
    { name: 'rope on every token (decoder)', causal: false, rope: true, shift: 0 },
    { name: 'rope with CLS unrotated (encoder)', causal: false, rope: true, shift: 1 },
  ])('matches a float64 host implementation: $name', async ({ causal, rope, shift }) => {
    const cfg: AttentionConfig = {
      hidden_size: 16,
      num_attention_heads: 2,
      layer_norm_eps: 1e-5,
      q_bias: true,
      k_bias: false,
      v_bias: true,
      subln: false,
    };
    const specs = attentionSpecs('att', cfg);
    expect(specs.map((s) => s.name)).toEqual([
      'att.k_proj.weight',
      'att.v_proj.weight',
      'att.v_proj.bias',
      'att.q_proj.weight',
      'att.q_proj.bias',
      'att.out_proj.weight',
      'att.out_proj.bias',
    ]);
    const params = initParams(
      specs.map((s) => ({ ...s, init: { kind: 'normal', std: 0.3 } })),
      new Rng(3),
    );
    const grid = 2;
    const t = grid * grid + shift;
    const rng = new Rng(11);
    const xs = Float32Array.from({ length: 2 * t * 16 }, () => rng.normal());
    const tables = ropeTables({ grid, headDim: 8 });
    const ropeT = rope ? ropeTensors(tables, shift) : undefined;
    const y = attention(params, 'att', cfg, tf.tensor3d(xs, [2, t, 16]), { causal, rope: ropeT });
    const ref = hostAttention(
      Float64Array.from(xs),
      [2, t, 16],
      await officialWeights(params, 'att', specs),
      2,
      causal,
      rope ? { ...tables, shift } : undefined,
    );
    expect(maxDiff(await y.data(), ref)).toBeLessThan(2e-5);
  });

  it('applyRope leaves identity rows untouched and preserves pair norms', async () => {
    const tables = ropeTables({ grid: 2, headDim: 8 });
    const r = ropeTensors(tables, 1);
    const x = tf.randomNormal([1, 5, 1, 8], 0, 1, 'float32', 5); // [B, T, H, hd]
    const y = applyRope(x, r);
    const xd = await x.data();
    const yd = await y.data();
    expect(maxDiff(yd.slice(0, 8), xd.slice(0, 8))).toBe(0);
    for (let p = 8; p < 40; p += 2) {
      expect(Math.hypot(yd[p]!, yd[p + 1]!)).toBeCloseTo(Math.hypot(xd[p]!, xd[p + 1]!), 5);
    }
  });
});
