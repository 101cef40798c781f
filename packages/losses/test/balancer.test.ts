import { describe, expect, it } from 'vitest';
import {
  type BalancerConfig,
  balancerUpdate,
  initialBalancerState,
  LossBalancer,
  STAGE1_BALANCER,
  validateBalancerConfig,
} from '../src/index.js';

const cfg: BalancerConfig = {
  mode: 'dynamic',
  balanced: ['reconstruction', 'contrastive'],
  fixed: { bsq: 0.5 },
  total: 2,
  decay: 0.9,
};

describe('balancerUpdate', () => {
  it('warm start: the first values are the EMA, weights are total * (1/v) / sum(1/v)', () => {
    const { state, weights } = balancerUpdate(cfg, initialBalancerState(), {
      reconstruction: 0.04,
      contrastive: 4,
      bsq: -0.3,
    });
    expect(state).toEqual({ version: 1, step: 1, ema: { reconstruction: 0.04, contrastive: 4 } });
    // 1/0.04 = 25, 1/4 = 0.25 -> shares 25/25.25 and 0.25/25.25 of 2
    expect(weights.reconstruction).toBeCloseTo((2 * 25) / 25.25, 12);
    expect(weights.contrastive).toBeCloseTo((2 * 0.25) / 25.25, 12);
    expect(weights.bsq).toBe(0.5);
    // Balanced terms contribute equally after weighting.
    expect(weights.reconstruction! * 0.04).toBeCloseTo(weights.contrastive! * 4, 12);
  });

  it('weights respond inversely to magnitudes and sum to total', () => {
    let st = initialBalancerState();
    let w: Record<string, number> = {};
    for (const [r, c] of [
      [1, 1],
      [1, 10],
      [1, 100],
    ] as const) {
      ({ state: st, weights: w } = balancerUpdate({ ...cfg, decay: 0 }, st, {
        reconstruction: r,
        contrastive: c,
        bsq: 0,
      }));
      expect(w.reconstruction! + w.contrastive!).toBeCloseTo(2, 12);
      expect(w.reconstruction! / w.contrastive!).toBeCloseTo(c / r, 9);
    }
    expect(w.contrastive).toBeLessThan(w.reconstruction!);
  });

  it('EMA: ema = decay * ema + (1 - decay) * value after the first step', () => {
    let st = initialBalancerState();
    const vals = [2, 4, 1, 3];
    let ref: number | undefined;
    for (const v of vals) {
      st = balancerUpdate(cfg, st, { reconstruction: v, contrastive: 1, bsq: 0 }).state;
      ref = ref === undefined ? v : 0.9 * ref + 0.1 * v;
    }
    expect(st.ema.reconstruction).toBeCloseTo(ref!, 12);
    expect(st.ema.contrastive).toBe(1);
    expect(st.step).toBe(4);
  });

  it('BSQ keeps its fixed weight whatever its (negative) value', () => {
    let st = initialBalancerState();
    for (const bsq of [-5, -0.01, 3, -100]) {
      const r = balancerUpdate(cfg, st, { reconstruction: 0.1, contrastive: 3, bsq });
      expect(r.weights.bsq).toBe(0.5);
      st = r.state;
    }
    expect(st.ema.bsq).toBeUndefined();
  });

  it('fixed mode returns the configured weights and tracks nothing', () => {
    const fixed: BalancerConfig = {
      ...cfg,
      mode: 'fixed',
      fixed: { reconstruction: 1, contrastive: 0.01, bsq: 0.1 },
    };
    const r = balancerUpdate(fixed, initialBalancerState(), { reconstruction: 5, contrastive: 0.2, bsq: -1 });
    expect(r.weights).toEqual({ reconstruction: 1, contrastive: 0.01, bsq: 0.1 });
    expect(r.state.ema).toEqual({});
  });

  it('NaN / Infinity / non-positive balanced values raise a clear error; the state is untouched', () => {
    const st = initialBalancerState();
    expect(() => balancerUpdate(cfg, st, { reconstruction: Number.NaN, contrastive: 1, bsq: 0 })).toThrow(
      /"reconstruction" is NaN at step 0.*diverged/,
    );
    expect(() => balancerUpdate(cfg, st, { reconstruction: 1, contrastive: Infinity, bsq: 0 })).toThrow(
      /"contrastive" is Infinity/,
    );
    expect(() => balancerUpdate(cfg, st, { reconstruction: 1, contrastive: 1, bsq: -Infinity })).toThrow(
      /"bsq" is -Infinity/,
    );
    expect(() => balancerUpdate(cfg, st, { reconstruction: -0.1, contrastive: 1, bsq: 0 })).toThrow(
      /positive loss.*BSQ/,
    );
    expect(() => balancerUpdate(cfg, st, { reconstruction: 1, bsq: 0 })).toThrow(/"contrastive" is missing/);
    expect(() => balancerUpdate(cfg, st, { reconstruction: 1, contrastive: 1, perceptual: 1 })).toThrow(
      /"perceptual" has no weight/,
    );
    expect(st).toEqual(initialBalancerState());
  });

  it('config validation names the bad field', () => {
    expect(() => validateBalancerConfig({ ...cfg, decay: 1 })).toThrow(/decay 1/);
    expect(() => validateBalancerConfig({ ...cfg, total: 0 })).toThrow(/total 0/);
    expect(() => validateBalancerConfig({ ...cfg, fixed: { contrastive: 1 } })).toThrow(
      /"contrastive" is both balanced and fixed/,
    );
    expect(() => validateBalancerConfig({ ...cfg, balanced: [] })).toThrow(/at least one balanced/);
  });
});

describe('LossBalancer', () => {
  it('state round-trips through JSON and resumes identically', () => {
    const a = new LossBalancer(cfg);
    const seq = [
      { reconstruction: 0.3, contrastive: 5, bsq: -0.2 },
      { reconstruction: 0.2, contrastive: 4.5, bsq: -0.25 },
      { reconstruction: 0.15, contrastive: 4.4, bsq: -0.3 },
    ];
    a.update(seq[0]!);
    a.update(seq[1]!);
    const json = JSON.stringify(a);
    const b = LossBalancer.fromJSON(cfg, JSON.parse(json));
    expect(b.state).toEqual(a.state);
    expect(b.weights).toEqual(a.weights);
    expect(b.update(seq[2]!)).toEqual(a.update(seq[2]!));
  });

  it('before the first update the balanced terms share the total equally', () => {
    const b = new LossBalancer(STAGE1_BALANCER);
    expect(b.weights).toEqual({ bsq: 1, reconstruction: 1, contrastive: 1 });
  });

  it('rejects a corrupt checkpoint state', () => {
    expect(() => LossBalancer.fromJSON(cfg, { version: 1, step: 2, ema: { reconstruction: -1 } })).toThrow(
      /loss balancer state/,
    );
    expect(() => LossBalancer.fromJSON(cfg, { step: 2, ema: {} })).toThrow(/version: 1/);
  });

  it('returned weights are copies (logging code cannot corrupt the balancer)', () => {
    const b = new LossBalancer(cfg);
    const w = b.update({ reconstruction: 1, contrastive: 1, bsq: 0 });
    w.reconstruction = 99;
    expect(b.weights.reconstruction).toBe(1);
  });
});
