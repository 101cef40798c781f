import { describe, expect, it } from 'vitest';
import {
  codesToGroupIndices,
  codesToIndices,
  groupCodebook,
  groupIndicesToCodes,
  groupIndicesToIndices,
  indicesToCodes,
} from '../src/index.js';

describe('codesToIndices', () => {
  it('packs channel 0 as the most significant bit, zero counts as negative', () => {
    expect(Array.from(codesToIndices([1, -1, 0], 3))).toEqual([0b100]);
    expect(Array.from(codesToIndices([-0.1, 0, 0.2], 3))).toEqual([0b001]);
    expect(Array.from(codesToIndices([-0, -1, 1, 1, 1, -1], 3))).toEqual([0b001, 0b110]);
  });

  it('uses all 32 bits without sign overflow', () => {
    expect(codesToIndices(new Array(32).fill(1), 32)[0]).toBe(4294967295);
    const z = new Array(32).fill(-1);
    z[0] = 1;
    expect(codesToIndices(z, 32)[0]).toBe(2 ** 31);
  });

  it('refuses more than 32 bits and ragged input', () => {
    expect(() => codesToIndices(new Array(33).fill(1), 33)).toThrow(/\[1, 32\].*group indices/);
    expect(() => codesToIndices([1, 2, 3], 2)).toThrow(/not a multiple of 2/);
  });
});

describe('group indices', () => {
  it('concatenate (group 0 most significant) to the flat index', () => {
    const z = [1, -1, 1, 1, -1, -1, 1, 0, 1, 1, 1, -1];
    const flat = codesToIndices(z, 12);
    const groups = codesToGroupIndices(z, 12, 4); // [1, 3]
    expect(Array.from(groups)).toEqual([0b1011, 0b0010, 0b1110]);
    expect(Array.from(groupIndicesToIndices(groups, 3, 4))).toEqual(Array.from(flat));
  });

  it('group codes invert group indices', () => {
    const codes = groupIndicesToCodes([0b10, 0b01], 2, 0.5);
    expect(Array.from(codes)).toEqual([0.5, -0.5, -0.5, 0.5]);
  });

  it('rejects a bit count that is not a multiple of the group size', () => {
    expect(() => codesToGroupIndices([1, 1, 1], 3, 2)).toThrow(/multiple of group size 2/);
  });
});

describe('indicesToCodes', () => {
  it('is the inverse of codesToIndices for every 5-bit code', () => {
    const all = Uint32Array.from({ length: 32 }, (_, i) => i);
    const codes = indicesToCodes(all, 5, 1);
    expect(Array.from(codesToIndices(codes, 5))).toEqual(Array.from(all));
  });

  it('scales codes and rejects out-of-range indices', () => {
    const s = 1 / Math.sqrt(2);
    expect(Array.from(indicesToCodes([2], 2, s))).toEqual([Math.fround(s), -Math.fround(s)]);
    expect(() => indicesToCodes([4], 2, 1)).toThrow(/index 4 at position 0 is outside \[0, 2\^2\)/);
    expect(() => indicesToCodes([-1], 2, 1)).toThrow(/outside/);
  });

  it('group codebook lists codes in index order, code 0 all negative', () => {
    expect(Array.from(groupCodebook(2, 1))).toEqual([-1, -1, -1, 1, 1, -1, 1, 1]);
  });
});
