import { Rng } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import { bitOf, buildSequence, drawTask, packSequences } from '../src/sequence.js';
import { BOI, BOS, EOI, EOS, PAD } from '../src/vocab.js';

const img = [5, 65535, 0, 256];

describe('buildSequence', () => {
  it('lays out t2i as <bos> text <boi> image <eoi> <eos> with loss on the image onwards', () => {
    const s = buildSequence({ task: 't2i', text: [7, 8], image: img });
    expect(s.elements).toEqual([
      { id: BOS },
      { id: 7 },
      { id: 8 },
      { id: BOI },
      { code: 5, n: 0 },
      { code: 65535, n: 1 },
      { code: 0, n: 2 },
      { code: 256, n: 3 },
      { id: EOI },
      { id: EOS },
    ]);
    expect(s.target).toEqual([false, false, false, false, true, true, true, true, true, true]);
  });
  it('lays out i2t as <bos> <boi> image <eoi> text <eos> with loss on the text', () => {
    const s = buildSequence({ task: 'i2t', text: [7, 8], image: img });
    expect(s.elements.map((e) => ('id' in e ? e.id : `i${e.n}`))).toEqual([
      BOS,
      BOI,
      'i0',
      'i1',
      'i2',
      'i3',
      EOI,
      7,
      8,
      EOS,
    ]);
    expect(s.target).toEqual([false, false, false, false, false, false, false, true, true, true]);
  });
  it('text-only and condition dropout (caption -> pads of the same length)', () => {
    expect(buildSequence({ task: 'text', text: [9] }).elements).toEqual([
      { id: BOS },
      { id: 9 },
      { id: EOS },
    ]);
    const d = buildSequence({ task: 't2i', text: [7, 8], image: img, dropCondition: true });
    expect(d.elements.slice(0, 4)).toEqual([{ id: BOS }, { id: PAD }, { id: PAD }, { id: BOI }]);
    expect(() => buildSequence({ task: 'i2t', text: [1] })).toThrow(/needs image tokens/);
  });
});

describe('packSequences', () => {
  it('shifts targets by one, right-pads, writes +-1 bits MSB first and grid positions', () => {
    const a = buildSequence({ task: 't2i', text: [7], image: img });
    const b = buildSequence({ task: 'text', text: [9] });
    const p = packSequences([a, b], { bits: 16, gridCols: 2 });
    expect(p.length).toBe(9);
    // Row 0: position 2 (<boi>) predicts image token 0; position 5 (image token 3) predicts <eoi>.
    expect(p.imageTarget[2]).toBe(5);
    expect(p.imageWeight[2]).toBe(1);
    expect(Array.from(p.imageWeight.subarray(0, 9))).toEqual([0, 0, 1, 1, 1, 1, 0, 0, 0]);
    expect(Array.from(p.textWeight.subarray(0, 9))).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 0]);
    expect(p.textTarget[6]).toBe(EOI);
    expect(Array.from(p.isImage.subarray(0, 9))).toEqual([0, 0, 0, 1, 1, 1, 1, 0, 0]);
    expect([p.rows[6], p.cols[6]]).toEqual([1, 1]); // token 3 of a 2-column grid
    // 256 = bit 7 set (MSB first, 16 bits): +1 at index 7 only.
    expect(Array.from(p.bits.subarray(6 * 16, 7 * 16))).toEqual(
      Array.from({ length: 16 }, (_, k) => (k === 7 ? 1 : -1)),
    );
    // Row 1 (text): predicts 9 then <eos>; padding carries no loss.
    expect(Array.from(p.textWeight.subarray(9, 18))).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(p.textTarget[10]).toBe(EOS);
  });
  it('self-correction flips input bits only, targets stay true; bitOf is MSB first', () => {
    const s = buildSequence({ task: 't2i', text: [7], image: img });
    const p = packSequences([s], { bits: 16, gridCols: 2, flip: 0.5, rng: new Rng(3) });
    const clean = packSequences([s], { bits: 16, gridCols: 2 });
    expect(Array.from(p.imageTarget)).toEqual(Array.from(clean.imageTarget));
    expect(Array.from(p.bits)).not.toEqual(Array.from(clean.bits));
    expect([bitOf(256, 7, 16), bitOf(256, 8, 16), bitOf(65535, 0, 16)]).toEqual([1, 0, 1]);
  });
  it('draws tasks in proportion', () => {
    const rng = new Rng(1);
    const n = { t2i: 0, i2t: 0, text: 0 };
    for (let i = 0; i < 2000; i++) n[drawTask({ t2i: 0.5, i2t: 0.5, text: 0 }, rng)]++;
    expect(n.text).toBe(0);
    expect(Math.abs(n.t2i - 1000)).toBeLessThan(100);
  });
});
