import type { ProgressEvent } from '@qlip/core';
import { describe, expect, it } from 'vitest';
import { createProgressRenderer, etaEstimator, formatDuration } from '../src/lib/progress.js';

const tick = (done: number, metrics?: ProgressEvent['metrics']): ProgressEvent => ({
  task: 'train',
  done,
  total: 100,
  unit: 'steps',
  ...(metrics ? { metrics } : {}),
});

describe('progress: one time-left estimate', () => {
  it('is unknown (--) at the first event, never NaN or Infinity, then the rate since the first event', () => {
    let t = 0;
    const eta = etaEstimator(() => t);
    expect(eta(tick(1))).toBeUndefined();
    expect(formatDuration(undefined)).toBe('--');
    expect(formatDuration(Number.NaN)).toBe('--');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('--');
    t = 2000; // 1 step in 2 s, 99 left
    expect(eta(tick(2))).toBeCloseTo(98 * 2, 10);
    expect(formatDuration(196)).toBe('3m16s');
    expect(formatDuration(3 * 3600 + 125)).toBe('3h02m');
  });

  it("prefers the library's own estimate (metrics.eta, seconds) when it sends one", () => {
    const eta = etaEstimator(() => 0);
    expect(eta(tick(1, { loss: 1, eta: 42 }))).toBe(42);
    expect(eta(tick(2, { loss: 1, eta: Number.NaN }))).toBeUndefined();
  });

  it('plain lines show eta once, formatted, after the metrics; none on the final line', () => {
    process.env.CI = '1'; // plain lines even when the test runs in a terminal
    const lines: string[] = [];
    const r = createProgressRenderer((s) => lines.push(s));
    r.listener(tick(1, { loss: 0.5, lr: 1e-5, eta: 125 }));
    r.listener({ ...tick(100, { loss: 0.25, eta: 0 }) });
    r.stop();
    expect(lines).toEqual([
      '[train] 1/100 steps loss=0.5000 lr=1.000e-5 eta=2m05s\n',
      '[train] 100/100 steps loss=0.2500\n',
    ]);
  });
});
