import { describe, expect, it } from 'vitest';
import { syntheticImages, syntheticPrompts } from '../src/data.js';

describe('synthetic bench-s inputs', () => {
  it('images are uniform in [-1, 1), reproducible per seed', () => {
    const a = syntheticImages(2, 8, 0);
    expect(a.length).toBe(2 * 3 * 8 * 8);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a)).toBeLessThan(1);
    expect(Math.min(...a)).toBeLessThan(-0.9);
    expect(Math.max(...a)).toBeGreaterThan(0.9);
    expect(syntheticImages(2, 8, 0)).toEqual(a);
    expect(syntheticImages(2, 8, 1)).not.toEqual(a);
  });

  it('prompts are SOT, 4..14 ids in [1, vocab-3], EOT, zero padding', () => {
    const ctx = 32;
    const vocab = 49408;
    const ids = syntheticPrompts(200, ctx, vocab, 0);
    const lengths = new Set<number>();
    for (let p = 0; p < 200; p++) {
      const row = Array.from(ids.subarray(p * ctx, (p + 1) * ctx));
      expect(row[0]).toBe(49406);
      const eot = row.indexOf(49407);
      lengths.add(eot - 1);
      for (const id of row.slice(1, eot)) {
        expect(id).toBeGreaterThanOrEqual(1);
        expect(id).toBeLessThanOrEqual(49405);
      }
      expect(row.slice(eot + 1).every((x) => x === 0)).toBe(true);
    }
    expect(Math.min(...lengths)).toBe(4);
    expect(Math.max(...lengths)).toBe(14);
    expect(syntheticPrompts(200, ctx, vocab, 0)).toEqual(ids);
  });

  it('rejects a context too short for the longest prompt', () => {
    expect(() => syntheticPrompts(1, 15, 49408)).toThrow(/context 15/);
  });
});
