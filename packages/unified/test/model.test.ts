import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { UnifiedModel } from '../src/model.js';
import { DecodeSession, tfjsDecoder } from '../src/sample.js';
import { captionPrefixes, greedyText, sampleImages, stepInputs } from '../src/sampling.js';
import { buildSequence, type Element, packSequences } from '../src/sequence.js';
import { tinyUnified } from './helpers.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const codes = Uint32Array.from({ length: 16 }, (_, i) => (i * 4099) % 65536);

/** Full-sequence hidden states `[1, T, D]` of elements (no cache). */
function fullHidden(m: UnifiedModel, elements: Element[]): Float32Array {
  const x = m.embed(stepInputs([elements], 16, 4), 0);
  const { hidden, cache } = m.forward(x);
  const out = hidden.dataSync() as Float32Array;
  tf.dispose([x, hidden, ...cache.flatMap((c) => [c.k, c.v])]);
  return out;
}

describe('UnifiedModel', () => {
  it('heads have the documented shapes (groups and per-bit)', () => {
    for (const [head, last] of [
      [{ kind: 'groups', group_size: 8 } as const, [2, 256]],
      [{ kind: 'groups', group_size: 4 } as const, [4, 16]],
      [{ kind: 'bits' } as const, [16]],
    ] as const) {
      const m = tinyUnified({ image_head: head });
      const h = tf.zeros([3, 5, 32]);
      const img = m.imageLogits(h);
      const txt = m.textLogits(h);
      expect(img.shape).toEqual([3, 5, ...last]);
      expect(txt.shape).toEqual([3, 5, 6 + 3]);
      tf.dispose([h, img, txt]);
      m.dispose();
    }
    expect(() => tinyUnified({ image_head: { kind: 'groups', group_size: 7 } })).toThrow(/not divisible/);
  });

  it('is causal: changing a later element leaves earlier hidden states unchanged', () => {
    const m = tinyUnified();
    const a = buildSequence({ task: 't2i', text: [6, 7], image: codes }).elements;
    const b = a.slice();
    b[8] = { code: 12345, n: 4 };
    const ha = fullHidden(m, a);
    const hb = fullHidden(m, b);
    const d = 32;
    expect(Array.from(hb.subarray(0, 8 * d))).toEqual(Array.from(ha.subarray(0, 8 * d)));
    expect(Array.from(hb.subarray(8 * d, 9 * d))).not.toEqual(Array.from(ha.subarray(8 * d, 9 * d)));
    m.dispose();
  });

  it('the KV cache gives the same last hidden state as the full forward at every step', () => {
    const m = tinyUnified();
    const seq = buildSequence({ task: 't2i', text: [6, 7, 8], image: codes }).elements;
    const full = fullHidden(m, seq);
    const s = new DecodeSession(m);
    const d = 32;
    let last = s.prefill([seq.slice(0, 5)]);
    for (let t = 5; t <= seq.length; t++) {
      const got = last.dataSync();
      const want = full.subarray((t - 1) * d, t * d);
      for (let i = 0; i < d; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
      last.dispose();
      if (t === seq.length) break;
      last = s.step([seq[t]!]);
    }
    s.dispose();
    m.dispose();
  });

  it('teacher-forced losses are finite, and near ln(V) / G ln(256) at init', () => {
    const m = tinyUnified();
    const batch = packSequences(
      [
        buildSequence({ task: 't2i', text: [6, 7], image: codes }),
        buildSequence({ task: 'i2t', text: [8], image: codes }),
      ],
      { bits: 16, gridCols: 4 },
    );
    const l = m.losses(batch);
    expect(l.text.dataSync()[0]).toBeGreaterThan(Math.log(9) - 0.5);
    expect(l.image.dataSync()[0]).toBeGreaterThan(2 * Math.log(256) - 0.5);
    expect(l.total.dataSync()[0]).toBeCloseTo(l.text.dataSync()[0]! + l.image.dataSync()[0]!, 4);
    tf.dispose([l.total, l.text, l.image]);
    m.dispose();
  });

  it('seeded sampling repeats exactly; another seed differs; guidance runs doubled batches', async () => {
    const m = tinyUnified();
    const o = { guidance: 3, temperature: 1, topK: 16 };
    const a = await sampleImages(tfjsDecoder(m), [6, 7], 4, o, new Rng(5));
    const b = await sampleImages(tfjsDecoder(m), [6, 7], 4, o, new Rng(5));
    const c = await sampleImages(tfjsDecoder(m), [6, 7], 4, o, new Rng(6));
    expect(a.length).toBe(4 * 16);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    const bits = tinyUnified({ image_head: { kind: 'bits' } });
    const x = await sampleImages(
      tfjsDecoder(bits),
      [6],
      2,
      { guidance: 1, temperature: 1, topK: 0 },
      new Rng(1),
    );
    expect(Array.from(x)).toEqual(
      Array.from(
        await sampleImages(tfjsDecoder(bits), [6], 2, { guidance: 1, temperature: 1, topK: 0 }, new Rng(1)),
      ),
    );
    bits.dispose();
    const caps = await greedyText(
      tfjsDecoder(m),
      captionPrefixes(Uint32Array.from([...codes, ...codes]), 16),
      5,
    );
    expect(caps.length).toBe(2);
    expect(caps[0]).toEqual(caps[1]);
    expect(caps[0]!.every((id) => id >= 6)).toBe(true); // only vocabulary words (or an early <eos>)
    m.dispose();
  });

  it('saves and loads config.json + model.safetensors bit-exactly (F32) and F16 close', async () => {
    const m = tinyUnified({}, 3);
    const dir = mkdtempSync(join(tmpdir(), 'um-'));
    await m.save(dir);
    const back = await UnifiedModel.load(dir);
    expect(back.config).toEqual(m.config);
    for (const [k, v] of m.params)
      expect(Array.from(back.params.get(k)!.dataSync())).toEqual(Array.from(v.dataSync()));
    const half = join(dir, 'f16');
    await m.save(half, { dtype: 'F16' });
    const h = await UnifiedModel.load(half);
    const w = m.params.get('text_head.weight')!.dataSync();
    const hw = h.params.get('text_head.weight')!.dataSync();
    for (let i = 0; i < w.length; i++) expect(Math.abs(hw[i]! - w[i]!)).toBeLessThan(1e-3);
    for (const x of [m, back, h]) x.dispose();
    await expect(UnifiedModel.load(join(dir, 'missing'))).rejects.toThrow(/not a unified model/);
  });
});

describe('um-qlip-b preset (QLIP-B-16-256 tokens: 28 bits, 16x16 grid, 4 groups of 7 bits)', () => {
  it('has consistent shapes and takes one training step (width shrunk for CPU tests)', async () => {
    const { resolveUnifiedConfig, unifiedPresetLayer } = await import('../src/train-config.js');
    const { unifiedSpecs } = await import('../src/model.js');
    const { parseUnifiedConfig } = await import('../src/config.js');
    const cfg = resolveUnifiedConfig([unifiedPresetLayer('um-qlip-b')]);
    const geometry = {
      image_bits: 28,
      image_grid: [16, 16] as [number, number],
      clip_ids: Array.from({ length: 2000 }, (_, i) => i),
      tokenizer: { path: cfg.tokenizer },
    };
    const full = parseUnifiedConfig({ ...cfg.model, ...geometry });
    const specs = unifiedSpecs(full);
    const n = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    expect(n).toBeGreaterThan(200e6); // ~205M with a 2k-word vocabulary
    expect(specs.find((s) => s.name === 'image_head.weight')!.shape).toEqual([4 * 128, 1024]);
    expect(specs.find((s) => s.name === 'image_in.weight')!.shape).toEqual([1024, 28]);
    // The longest sequence fits: <bos> + caption (<= 77) + <boi> + 256 + <eoi> + <eos>.
    expect(full.max_position_embeddings).toBeGreaterThanOrEqual(1 + 77 + 1 + 256 + 2);
    const m = tinyUnified({
      ...geometry,
      clip_ids: [320, 1125, 539],
      image_head: cfg.model.image_head!,
      max_position_embeddings: full.max_position_embeddings,
    });
    const codes = Uint32Array.from({ length: 256 }, (_, i) => (i * 1000003) % 2 ** 28);
    const batch = packSequences([buildSequence({ task: 't2i', text: [6, 7], image: codes })], {
      bits: 28,
      gridCols: 16,
      flip: 0.1,
      rng: new Rng(0),
    });
    const vars = [...m.params.values()];
    const { value, grads } = tf.variableGrads(() => m.losses(batch).total, vars);
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    expect(value.dataSync()[0]).toBeGreaterThan(4 * Math.log(128) - 1);
    expect(Object.keys(grads).length).toBe(vars.length);
    tf.dispose([value, ...Object.values(grads)]);
    m.dispose();
  });
});
