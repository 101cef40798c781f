import { describe, expect, it } from 'vitest';
import { learningRate } from '../src/index.js';

describe('learningRate', () => {
  const s = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-5, kind: 'cosine' as const };

  it('warms up linearly to the peak', () => {
    expect(learningRate(s, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 4)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 9)).toBeCloseTo(1e-3, 12);
  });

  it('decays along a half cosine to the floor and stays there', () => {
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 12);
    expect(learningRate(s, 110)).toBeCloseTo(1e-5, 12);
    expect(learningRate(s, 500)).toBeCloseTo(1e-5, 12);
  });

  it('holds the peak after warm-up for a constant schedule', () => {
    expect(learningRate({ ...s, kind: 'constant' }, 100)).toBe(1e-3);
    expect(learningRate({ ...s, warmupSteps: 0, kind: 'constant' }, 0)).toBe(1e-3);
  });
});
