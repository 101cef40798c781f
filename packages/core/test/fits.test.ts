import { describe, expect, it } from 'vitest';
import { specMismatch } from '../src/index.js';

describe('specMismatch (the one "tensor fits spec" check)', () => {
  it('accepts an equal shape, and a float dtype where the spec asks for one', () => {
    expect(specMismatch({ shape: [2, 3], dtype: 'F16' }, { shape: [2, 3], float: true })).toBeUndefined();
    expect(specMismatch({ shape: [], dtype: 'I64' }, { shape: [] })).toBeUndefined();
  });

  it('names the shape first: another rank or another size', () => {
    expect(specMismatch({ shape: [6] }, { shape: [2, 3] })).toBe('shape');
    expect(specMismatch({ shape: [2, 4], dtype: 'I32' }, { shape: [2, 3], float: true })).toBe('shape');
    expect(specMismatch({ shape: [1, 64, 1] }, { shape: [1, 64, 1, 1] })).toBe('shape');
  });

  it('refuses a non-float dtype only when the spec asks for a float', () => {
    expect(specMismatch({ shape: [4], dtype: 'I32' }, { shape: [4], float: true })).toBe('dtype');
    expect(specMismatch({ shape: [4], dtype: 'U8' }, { shape: [4] })).toBeUndefined();
    for (const dtype of ['F32', 'F16', 'BF16'])
      expect(specMismatch({ shape: [4], dtype }, { shape: [4], float: true })).toBeUndefined();
  });
});
