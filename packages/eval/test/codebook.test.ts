import { describe, expect, test } from 'vitest';
import { bitsPerImage, codebookUsage, compressionRatio } from '../src/index.js';

describe('codebookUsage', () => {
  test('exact small case, L = 3', () => {
    // 0b000, 0b101, 0b101, 0b111: bit 0 (MSB) ones 3/4, bit 1 ones 1/4, bit 2 (LSB) ones 3/4.
    const u = codebookUsage(new Uint32Array([0, 5, 5, 7]), 3);
    expect(u.tokens).toBe(4);
    expect(u.distinct).toBe(3);
    expect(u.usageFraction).toBe(3 / 8);
    const h34 = -(0.75 * Math.log2(0.75) + 0.25 * Math.log2(0.25));
    expect(u.bitEntropy[0]).toBeCloseTo(h34, 14);
    expect(u.bitEntropy[1]).toBeCloseTo(h34, 14);
    expect(u.bitEntropy[2]).toBeCloseTo(h34, 14);
    // Codes with probabilities 1/4, 1/2, 1/4: entropy 1.5 bits, perplexity 2^1.5.
    expect(u.codeEntropy).toBeCloseTo(1.5, 14);
    expect(u.perplexity).toBeCloseTo(2 ** 1.5, 12);
  });

  test('bit order is MSB first', () => {
    // Only the top bit of a 4-bit index varies: position 0 has entropy 1, the others 0.
    const u = codebookUsage([0b0000, 0b1000], 4);
    expect(u.bitEntropy).toEqual([1, 0, 0, 0]);
    expect(u.meanBitEntropy).toBe(0.25);
  });

  test('uniform use of every code: full usage, 1 bit per bit, perplexity 2^L', () => {
    const all = Uint32Array.from({ length: 64 }, (_, i) => i);
    const u = codebookUsage(all, 6);
    expect(u.usageFraction).toBe(1);
    expect(u.bitEntropy.every((h) => Math.abs(h - 1) < 1e-15)).toBe(true);
    expect(u.perplexity).toBeCloseTo(64, 9);
  });

  test('32-bit indices use all 32 bit positions', () => {
    const u = codebookUsage(new Uint32Array([0xffffffff, 0x80000000]), 32);
    expect(u.bitEntropy[0]).toBe(0); // MSB set in both
    expect(u.bitEntropy[31]).toBe(1); // LSB differs
    expect(u.distinct).toBe(2);
  });

  test('bad input', () => {
    expect(() => codebookUsage([8], 3)).toThrow(/index 8 at position 0/);
    expect(() => codebookUsage([-1], 3)).toThrow(/not an integer/);
    expect(() => codebookUsage([], 3)).toThrow(/no token indices/);
    expect(() => codebookUsage([0], 0)).toThrow(/bits must be/);
  });
});

describe('bits and compression', () => {
  test('QLIP-B-16-256: 16x16 tokens of 28 bits', () => {
    expect(bitsPerImage(256, 28)).toBe(7168);
    expect(compressionRatio(16, 28)).toBeCloseTo(219.43, 2);
    expect(compressionRatio(8, 28)).toBeCloseTo(54.86, 2);
    expect(compressionRatio(14, 28)).toBe(168);
  });
  test('bad input', () => {
    expect(() => compressionRatio(0, 28)).toThrow(/positive/);
    expect(() => bitsPerImage(256, 0)).toThrow(/positive/);
  });
});
